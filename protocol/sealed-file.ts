// Cocos v0.10's encrypted-resource format (scripts/encrypt.go, pkg/resource/decrypt.go):
//   nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16), a raw 32-byte key, no additional data.
// Encryption streams file to file; decryption is a streaming transform whose output is only
// trustworthy once `final()` has verified the tag at the very end.
import { createCipheriv, createDecipheriv, randomBytes, type DecipherGCM } from "node:crypto";
import { closeSync, openSync, readSync, writeSync } from "node:fs";

export const SEALED_KEY_BYTES = 32;
export const SEALED_NONCE_BYTES = 12;
export const SEALED_TAG_BYTES = 16;
export const SEALED_OVERHEAD = SEALED_NONCE_BYTES + SEALED_TAG_BYTES;

export class SealedFileError extends Error {
  override name = "SealedFileError";
}

export function checkKey(key: Uint8Array, what = "AES-256-GCM key"): void {
  if (key.byteLength !== SEALED_KEY_BYTES) throw new SealedFileError(`${what}: expected ${SEALED_KEY_BYTES} bytes, got ${key.byteLength}`);
}

/** A fresh random key, raw bytes (the Go script reads the key file as exactly 32 raw bytes). */
export function generateSealedKey(): Uint8Array {
  return new Uint8Array(randomBytes(SEALED_KEY_BYTES));
}

/** Encrypts one buffer (tests, small inputs). */
export function sealBytes(key: Uint8Array, plaintext: Uint8Array): Uint8Array {
  checkKey(key);
  const nonce = randomBytes(SEALED_NONCE_BYTES);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  return new Uint8Array(Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]));
}

/** Encrypts `inPath` into `outFd` in 1 MiB steps; returns the ciphertext length. */
export function sealFile(key: Uint8Array, inPath: string, outFd: number): number {
  checkKey(key);
  const nonce = randomBytes(SEALED_NONCE_BYTES);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  const put = (b: Uint8Array) => {
    for (let off = 0; off < b.byteLength; ) off += writeSync(outFd, b, off, b.byteLength - off);
    return b.byteLength;
  };
  let total = put(nonce);
  const fd = openSync(inPath, "r");
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) total += put(c.update(buf.subarray(0, n)));
  } finally {
    closeSync(fd);
  }
  return total + put(c.final()) + put(c.getAuthTag());
}

/**
 * Streaming decryption: `update` takes ciphertext chunks of any size and returns plaintext; the last
 * 16 bytes seen are held back as the tag. `final` verifies it and throws if anything was altered,
 * truncated, encrypted with another key, or is not ciphertext at all.
 */
export class SealedDecryptor {
  private nonce = Buffer.alloc(0);
  private decipher: DecipherGCM | null = null;
  /** The trailing bytes not yet known to be ciphertext (at most the tag length). */
  private tail = Buffer.alloc(0);
  received = 0;

  constructor(private readonly key: Uint8Array) {
    checkKey(key);
  }

  update(chunk: Uint8Array): Uint8Array {
    this.received += chunk.byteLength;
    let b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (!this.decipher) {
      const need = SEALED_NONCE_BYTES - this.nonce.length;
      this.nonce = Buffer.concat([this.nonce, b.subarray(0, need)]);
      b = b.subarray(need);
      if (this.nonce.length < SEALED_NONCE_BYTES) return new Uint8Array(0);
      this.decipher = createDecipheriv("aes-256-gcm", this.key, this.nonce);
    }
    const joined = this.tail.length ? Buffer.concat([this.tail, b]) : b;
    const keep = Math.min(SEALED_TAG_BYTES, joined.length);
    // Copied: `joined` may be a view of the caller's (transport's) buffer, which is reused.
    this.tail = Buffer.from(joined.subarray(joined.length - keep));
    const body = joined.subarray(0, joined.length - keep);
    return body.length ? this.decipher.update(body) : new Uint8Array(0);
  }

  /** The remaining plaintext; throws SealedFileError unless the tag verifies. */
  final(): Uint8Array {
    if (!this.decipher || this.tail.length < SEALED_TAG_BYTES) {
      throw new SealedFileError(`expected AES-256-GCM ciphertext of at least ${SEALED_OVERHEAD} bytes (nonce 12 ‖ ciphertext ‖ tag 16), received ${this.received}`);
    }
    this.decipher.setAuthTag(this.tail);
    try {
      return this.decipher.final();
    } catch {
      throw new SealedFileError(`AES-256-GCM authentication failed over ${this.received} bytes: expected ciphertext sealed with this resource's key, received bytes that are altered, truncated, sealed with another key, or not ciphertext`);
    }
  }
}

/** Decrypts one buffer (tests, small inputs). */
export function openSealed(key: Uint8Array, sealed: Uint8Array): Uint8Array {
  const d = new SealedDecryptor(key);
  const a = d.update(sealed);
  return new Uint8Array(Buffer.concat([a, d.final()]));
}
