import { expect, test } from "bun:test";
import { createDecipheriv, randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSealed, sealBytes, SealedDecryptor, SealedFileError, sealFile } from "./sealed-file.ts";

const key = new Uint8Array(randomBytes(32));
const plain = new Uint8Array(randomBytes(300_000));

test("the layout is Go's: nonce(12) ‖ GCM Seal output (ciphertext ‖ tag 16), no AAD", () => {
  const sealed = sealBytes(key, plain);
  expect(sealed.length).toBe(plain.length + 28);
  // Decrypted independently the way pkg/resource/decrypt.go does: split, then one-shot Open.
  const d = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, 12));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  expect(new Uint8Array(Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]))).toEqual(plain);
});

test("file sealing streams and round-trips; any chunking decrypts the same", () => {
  const dir = mkdtempSync(join(tmpdir(), "sealed-"));
  try {
    writeFileSync(join(dir, "in"), plain);
    const fd = openSync(join(dir, "out"), "w");
    sealFile(key, join(dir, "in"), fd);
    closeSync(fd);
    const sealed = new Uint8Array(readFileSync(join(dir, "out")));
    for (const step of [1, 7, 16, 4096, sealed.length]) {
      const d = new SealedDecryptor(key);
      const parts: Uint8Array[] = [];
      for (let off = 0; off < sealed.length; off += step) parts.push(d.update(sealed.subarray(off, off + step)));
      parts.push(d.final());
      expect(new Uint8Array(Buffer.concat(parts))).toEqual(plain);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("refusals: wrong key, truncated, tampered, plaintext, too short — each says what was expected", () => {
  const sealed = sealBytes(key, plain);
  const fails = (k: Uint8Array, b: Uint8Array) => {
    try {
      openSealed(k, b);
    } catch (e) {
      expect(e).toBeInstanceOf(SealedFileError);
      return (e as Error).message;
    }
    throw new Error("accepted");
  };
  expect(fails(new Uint8Array(randomBytes(32)), sealed)).toContain("authentication failed");
  expect(fails(key, sealed.subarray(0, sealed.length - 1))).toContain("authentication failed");
  const tampered = sealed.slice();
  tampered[1000]! ^= 1;
  expect(fails(key, tampered)).toContain("authentication failed");
  expect(fails(key, plain)).toContain("authentication failed");
  expect(fails(key, sealed.subarray(0, 20))).toContain("at least 28 bytes");
  expect(() => sealBytes(new Uint8Array(16), plain)).toThrow("expected 32 bytes, got 16");
});
