// The upload page's crypto on Bun's WebCrypto (the browser test runs it in Chromium): every key file
// `cocos-cli keys` writes (and PKCS#8) signs a Data call the agent's verifier accepts, covering the
// wrapped key; the sealed file is Cocos's format and its key opens only for its computation and input.
import { describe, expect, test } from "bun:test";
import { unwrapUploadKey, uploadInfo, uploadSuite, wrapUploadKey } from "../../attestation/browser/upload-key.ts";
import { sha3_256, toHex } from "../../protocol/hash.ts";
import { generateKeyPair, loadPrivateKey, pemEncode, type KeyType } from "../../protocol/keys.ts";
import { SealedDecryptor } from "../../protocol/sealed-file.ts";
import { NonceWindow, verifyRequest } from "../../protocol/signature.ts";
import { importPartyKey, manifestEntry, METHOD_DATA, sealFile, signDataCall } from "./upload.ts";

const audience = "ab".repeat(32);
const verify = (md: Record<string, string>, publicPem: string) =>
  verifyRequest(md, [new Uint8Array(Buffer.from(publicPem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64"))], { role: "data-provider", method: METHOD_DATA, computationId: "c1", audience, nonces: new NonceWindow() });

describe("the party's key in the page", () => {
  for (const kind of ["ed25519", "ecdsa", "rsa"] as KeyType[]) {
    test(`${kind}: cocos-cli's key file and its PKCS#8 form sign a v2 Data call the agent accepts; another sealed key does not verify`, async () => {
      const { privatePem, publicPem } = generateKeyPair(kind);
      const pkcs8Pem = pemEncode("PRIVATE KEY", loadPrivateKey(privatePem).export({ type: "pkcs8", format: "der" }));
      for (const pem of [privatePem, pkcs8Pem]) {
        const party = await importPartyKey(pem);
        expect(`-----BEGIN PUBLIC KEY-----${party.spkiB64}`.replace(/\s/g, "")).toBe(publicPem.replace(/\s|-----END PUBLIC KEY-----/g, ""));
        const md = await signDataCall(party, "c1", audience, "c2VhbGVk");
        expect(verify(md, publicPem)).toMatchObject({ ok: true, version: 2 });
        // A relay swapping the sealed key keeps a signature that no longer verifies.
        expect(verify({ ...md, "cocos-sealed-key": "b3RoZXI=" }, publicPem).ok).toBe(false);
      }
    }, 30_000);
  }

  test("a key file of another kind is refused with what was expected", async () => {
    await expect(importPartyKey("not a key")).rejects.toThrow("expected a PEM private key");
    await expect(importPartyKey("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")).rejects.toThrow("unsupported PEM label CERTIFICATE");
  });
});

describe("sealing in the page", () => {
  test("Cocos's format under a fresh key, the key wrapped for one computation and input", async () => {
    const plain = new TextEncoder().encode("1,5.1,3.5,1.4,0.2,Iris-setosa\n".repeat(20));
    const { key, sealed } = await sealFile(plain.slice().buffer);
    expect(sealed.length).toBe(plain.length + 28);
    const d = new SealedDecryptor(key);
    expect(Buffer.concat([d.update(sealed), d.final()]).equals(Buffer.from(plain))).toBe(true);
    const kp = await uploadSuite().kem.generateKeyPair();
    const pub = new Uint8Array(await uploadSuite().kem.serializePublicKey(kp.publicKey));
    const wrapped = await wrapUploadKey(pub, key, uploadInfo("c1", "data-provider", "Iris.csv"));
    expect([...(await unwrapUploadKey(kp.privateKey, wrapped, uploadInfo("c1", "data-provider", "Iris.csv")))]).toEqual([...key]);
    await expect(unwrapUploadKey(kp.privateKey, wrapped, uploadInfo("c2", "data-provider", "Iris.csv"))).rejects.toThrow("does not open");
    await expect(unwrapUploadKey(kp.privateKey, wrapped, uploadInfo("c1", "algorithm-provider", "Iris.csv"))).rejects.toThrow("does not open");
  });

  test("the file must be the manifest's dataset (name, SHA3-256, provider key)", () => {
    const hash = Array.from(sha3_256("data"));
    const m = { id: "c1", datasets: [{ hash, filename: "Iris.csv", user_key: "KEY" }] };
    expect(manifestEntry(m, "Iris.csv", toHex(sha3_256("data")), "KEY").filename).toBe("Iris.csv");
    expect(() => manifestEntry(m, "other.csv", toHex(sha3_256("data")), "KEY")).toThrow("other.csv is not a dataset of this manifest: expected one of Iris.csv");
    expect(() => manifestEntry(m, "Iris.csv", "00".repeat(32), "KEY")).toThrow(`expected SHA3-256 ${toHex(sha3_256("data"))}, the file has ${"00".repeat(32)}`);
    expect(() => manifestEntry(m, "Iris.csv", toHex(sha3_256("data")), "OTHER")).toThrow("declared for another data provider's key");
  });
});
