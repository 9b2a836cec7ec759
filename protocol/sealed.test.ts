import { expect, test } from "bun:test";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { decodePrefix, ed25519ToX25519Public, keyId, SEALED_MAGIC, sealBytes } from "./sealed.ts";
import { publicKeyDer } from "./keys.ts";

test("an Ed25519 key's X25519 counterpart: the birational map of its public key equals X25519 of its scalar", () => {
  for (let i = 0; i < 5; i++) {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const seed = Buffer.from(privateKey.export({ format: "jwk" }).d!, "base64url");
    const scalar = createHash("sha512").update(seed).digest().subarray(0, 32);
    const x = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), scalar]), format: "der", type: "pkcs8" });
    const expected = Buffer.from(createPublicKey(x).export({ format: "jwk" }).x!, "base64url");
    expect(Buffer.from(ed25519ToX25519Public(publicKey)).equals(expected)).toBe(true);
  }
});

test("the header names each recipient by the SHA-256 of its SPKI, and the magic is never a zip's", async () => {
  const k = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const sealed = await sealBytes(new Uint8Array([1, 2, 3]), [k.publicKey]);
  expect(Buffer.from(sealed.subarray(0, 8)).equals(Buffer.from(SEALED_MAGIC))).toBe(true);
  expect(SEALED_MAGIC[0]).not.toBe(0x50);
  const { header } = decodePrefix(sealed);
  expect(header.recipients[0]!.kid).toBe(createHash("sha256").update(publicKeyDer(k.publicKey)).digest("hex"));
  expect(keyId(k.privateKey)).toBe(header.recipients[0]!.kid);
  await expect(sealBytes(new Uint8Array(1), [])).rejects.toThrow("no recipient key");
});
