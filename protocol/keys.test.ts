import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPair, KeyError, keyTypeOf, loadPrivateKey, loadPublicKey, pemDecode, publicKeyDer } from "./keys.ts";
import { signRole, verifyRole } from "./signature.ts";

const td = (f: string) => readFileSync(join(import.meta.dir, "testdata", f), "utf8");

describe("key files", () => {
  test("generated files use the original CLI's PEM labels and encodings", () => {
    const rsa = generateKeyPair("rsa");
    expect(pemDecode(rsa.privatePem).label).toBe("PRIVATE KEY");
    // PKCS#1 RSAPrivateKey starts with SEQUENCE { INTEGER 0, INTEGER n ...}: no AlgorithmIdentifier.
    const der = pemDecode(rsa.privatePem).der;
    expect(der.includes(Buffer.from("2a864886f70d010101", "hex"))).toBe(false);
    expect(loadPrivateKey(rsa.privatePem).asymmetricKeyDetails?.modulusLength).toBe(4096);
    expect(pemDecode(generateKeyPair("ecdsa").privatePem).label).toBe("EC PRIVATE KEY");
    const ed = generateKeyPair("ed25519");
    expect(pemDecode(ed.privatePem).label).toBe("PRIVATE KEY");
    expect(pemDecode(ed.publicPem).label).toBe("PUBLIC KEY");
  });

  for (const [file, type] of [["cocos-rsa-private.pem", "rsa"], ["cocos-ecdsa-private.pem", "ecdsa"], ["cocos-ed25519-private.pem", "ed25519"]] as const) {
    test(`reads ${file} (original CLI layout) and signs with it`, () => {
      const priv = loadPrivateKey(td(file));
      expect(keyTypeOf(priv)).toBe(type);
      const pub = publicKeyDer(priv);
      expect(verifyRole(pub, "consumer", signRole(priv, "consumer"))).toBe(true);
    });
  }

  test("standard PKCS#8 and RSA PRIVATE KEY are read too", () => {
    const priv = loadPrivateKey(td("cocos-rsa-private.pem"));
    const pkcs8 = priv.export({ type: "pkcs8", format: "pem" }) as string;
    const pkcs1 = priv.export({ type: "pkcs1", format: "pem" }) as string;
    expect(keyTypeOf(loadPrivateKey(pkcs8))).toBe("rsa");
    expect(pemDecode(pkcs1).label).toBe("RSA PRIVATE KEY");
    expect(keyTypeOf(loadPrivateKey(pkcs1))).toBe("rsa");
  });

  test("public keys load from PEM and DER", () => {
    const { publicPem } = generateKeyPair("ed25519");
    const k = loadPublicKey(publicPem);
    expect(loadPublicKey(publicKeyDer(k)).asymmetricKeyType).toBe("ed25519");
  });

  test("garbage and unknown labels are refused with a KeyError", () => {
    expect(() => loadPrivateKey("nope")).toThrow(KeyError);
    expect(() => loadPrivateKey("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).toThrow(/unsupported PEM label "CERTIFICATE"/);
    expect(() => loadPrivateKey("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")).toThrow(KeyError);
    expect(() => loadPublicKey(new Uint8Array([1, 2, 3]))).toThrow(KeyError);
  });
});
