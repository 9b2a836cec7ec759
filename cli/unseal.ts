// `cocos-cli result` for a sealed result (manifest `seal_results`): finds this consumer's entry by
// key id, unwraps the content key with the consumer's private key and decrypts the archive, streamed,
// into a fresh file. GCM releases plaintext before its tag is checked, so the output is kept only
// once the tag (over header and content) verified; a tampered or truncated file leaves nothing.
import { createDecipheriv, type KeyObject } from "node:crypto";
import { closeSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { CHUNK_SIZE } from "../protocol/chunks.ts";
import { decodePrefix, keyId, MAX_PREFIX_BYTES, SealedError, TAG_BYTES, unwrapWith } from "../protocol/sealed.ts";
import { CliError } from "./errors.ts";
import { createExclusive, temporaryPathFor } from "./output-file.ts";

function readAt(fd: number, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, b, got, length - got, offset + got);
    if (n === 0) break;
    got += n;
  }
  return b.subarray(0, got);
}

/** Decrypts the sealed file at `sealedPath` into `outPath` (created exclusively); returns the plaintext size. */
export async function unsealFile(sealedPath: string, outPath: string, key: KeyObject): Promise<number> {
  const size = statSync(sealedPath).size;
  const inFd = openSync(sealedPath, "r");
  let outFd = -1;
  try {
    const head = readAt(inFd, 0, Math.min(size, MAX_PREFIX_BYTES));
    const { header, prefixBytes } = decodePrefix(head);
    if (size < prefixBytes + TAG_BYTES) throw new SealedError(`sealed result truncated: ${size} bytes, expected at least ${prefixBytes + TAG_BYTES}`);
    const kid = keyId(key);
    const mine = header.recipients.find((r) => r.kid === kid);
    if (!mine) {
      throw new CliError(`the result is sealed to ${header.recipients.length} consumer key(s) (${header.recipients.map((r) => r.kid.slice(0, 16)).join(", ")}…); this private key (${kid.slice(0, 16)}…) is not one of them`);
    }
    const cek = await unwrapWith(key, mine);
    const decipher = createDecipheriv("aes-256-gcm", cek, Buffer.from(header.iv, "base64"));
    decipher.setAAD(head.subarray(0, prefixBytes));
    decipher.setAuthTag(readAt(inFd, size - TAG_BYTES, TAG_BYTES));
    cek.fill(0);
    outFd = createExclusive(outPath, 0o600);
    const end = size - TAG_BYTES;
    let written = 0;
    const put = (b: Uint8Array) => {
      for (let off = 0; off < b.byteLength; ) off += writeSync(outFd, b, off);
      written += b.byteLength;
    };
    for (let off = prefixBytes; off < end; off += CHUNK_SIZE) put(decipher.update(readAt(inFd, off, Math.min(CHUNK_SIZE, end - off))));
    try {
      put(decipher.final());
    } catch {
      throw new SealedError("the sealed result failed authentication (AES-256-GCM tag): it was altered or truncated after the agent sealed it");
    }
    closeSync(outFd);
    outFd = -1;
    return written;
  } catch (err) {
    if (outFd >= 0) closeSync(outFd);
    rmSync(outPath, { force: true });
    if (err instanceof SealedError) throw new CliError(`${err.message}; nothing saved`);
    throw err;
  } finally {
    closeSync(inFd);
  }
}

/** Replaces the sealed file at `path` by its plaintext (via a temporary next to it). */
export async function unsealInPlace(path: string, key: KeyObject): Promise<number> {
  const plain = temporaryPathFor(path);
  const n = await unsealFile(path, plain, key);
  renameSync(plain, path);
  return n;
}
