import { describe, expect, test } from "bun:test";
import * as A from "./asn1.ts";
import { buildCertificate, name, parseCertificate, publicKey, verifyCertSignature } from "./x509.ts";
import { generateKeyPairSync } from "node:crypto";

describe("DER", () => {
  test("OIDs round trip, including arcs beyond 2^32", () => {
    for (const o of ["1.2.840.113549.1.1.10", "2.99999.2.1", "2.25.310593851625169928874593481720608365021"])
      expect(A.decodeOid(A.readAll(A.oid(o)))).toBe(o);
  });
  test("lengths: long form, minimal encoding enforced, overruns refused", () => {
    const big = A.octets(new Uint8Array(300));
    expect(A.value(A.readAll(big)).length).toBe(300);
    expect(() => A.read(new Uint8Array([0x04, 0x81, 0x05, 0, 0, 0, 0, 0]))).toThrow(/non-minimal/);
    expect(() => A.read(new Uint8Array([0x04, 0x05, 0]))).toThrow(/wants 5 bytes/);
    expect(() => A.readAll(new Uint8Array([0x05, 0x00, 0x00]))).toThrow(/trailing/);
  });
  test("times: UTCTime before 2050, GeneralizedTime after", () => {
    for (const d of [new Date("2024-01-02T03:04:05Z"), new Date("2075-06-07T08:09:10Z")]) expect(A.decodeTime(A.readAll(A.time(d)))).toEqual(d);
    expect(A.time(new Date("2075-01-01T00:00:00Z"))[0]).toBe(A.TAG.GENERALIZED_TIME);
  });
  test("a built RSA-PSS certificate parses and verifies; a different issuer key does not", () => {
    const k = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const spki = new Uint8Array(k.publicKey.export({ format: "der", type: "spki" }));
    const der = buildCertificate({ serial: 7, issuer: name([["CN", "x"]]), subject: name([["CN", "x"]]), notBefore: new Date(0), notAfter: new Date("2060-01-01"), spki, signer: { key: k.privateKey, alg: "rsa-pss-sha384" } });
    const c = parseCertificate(der);
    expect(c.subjectCN).toBe("x");
    expect(verifyCertSignature(c, publicKey(c.spki))).toBe(true);
    expect(verifyCertSignature(c, other.publicKey)).toBe(false);
  });
});
