import { describe, expect, test } from "bun:test";
import { certificatesPem, readCertificates } from "./cert-file.ts";
import { derToPem, pemToDer } from "./bytes.ts";
import { snpFile, snpText } from "./testdata/load.ts";

const vcek = snpFile("trustee_milan_vcek.der");
const [ask, ark] = pemToDer(snpText("amd_milan_ask_ark.pem"));
const hex = (b: Uint8Array[]) => b.map((x) => Buffer.from(x).toString("hex"));
const enc = (s: string) => new TextEncoder().encode(s);

describe("certificate files: PEM or DER, chains included", () => {
  test("one DER certificate, and DER certificates back to back", () => {
    expect(hex(readCertificates(vcek, "--vcek"))).toEqual(hex([vcek]));
    expect(hex(readCertificates(new Uint8Array([...vcek, ...ask!, ...ark!]), "--vcek"))).toEqual(hex([vcek, ask!, ark!]));
  });
  test("PEM blocks in order, with text and other blocks around them ignored", () => {
    const pem = `# AMD chain\n${derToPem(ask!)}\n-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n${derToPem(ark!)}`;
    expect(hex(readCertificates(enc(pem), "--ask"))).toEqual(hex([ask!, ark!]));
    expect(certificatesPem([ask!, ark!])).toBe(derToPem(ask!) + derToPem(ark!));
  });
  test("refusals say what was expected and what arrived", () => {
    expect(() => readCertificates(enc("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), "--vcek f")).toThrow("--vcek f: expected PEM CERTIFICATE blocks, got PUBLIC KEY");
    expect(() => readCertificates(enc("-----BEGIN CERTIFICATE-----\nAAAA"), "--vcek f")).toThrow("got no complete PEM block");
    expect(() => readCertificates(new Uint8Array(0), "--ark f")).toThrow("got an empty file");
    expect(() => readCertificates(new Uint8Array([...vcek, 0x04, 0x01, 0x00]), "--vcek f")).toThrow(`got tag 0x4 at offset ${vcek.length}`);
    expect(() => readCertificates(vcek.subarray(0, 100), "--vcek f")).toThrow("neither at offset 0");
  });
});
