// SHA3-256 everywhere Cocos uses it (file, directory-as-zip, manifest). Bun's CryptoHasher is native.
import { stat } from "node:fs/promises";
import { zipDirectory } from "./zip.ts";

export function sha3_256(data: Uint8Array | string): Uint8Array {
  const h = new Bun.CryptoHasher("sha3-256");
  h.update(data);
  return new Uint8Array(h.digest().buffer);
}

export function sha3_512(data: Uint8Array | string): Uint8Array {
  const h = new Bun.CryptoHasher("sha3-512");
  h.update(data);
  return new Uint8Array(h.digest().buffer);
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

export function fromHex(s: string): Uint8Array {
  const clean = s.trim().replace(/^0x/i, "");
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new Error(`expected an even-length hex string, got ${JSON.stringify(s.slice(0, 80))}`);
  }
  return new Uint8Array(Buffer.from(clean, "hex"));
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Streaming SHA3-256 of a file's bytes. */
export async function hashFile(path: string): Promise<Uint8Array> {
  const h = new Bun.CryptoHasher("sha3-256");
  for await (const chunk of Bun.file(path).stream()) h.update(chunk);
  return new Uint8Array(h.digest().buffer);
}

/** A file hashes as its bytes; a directory as the deterministic zip the CLI uploads for it. */
export async function hashPath(path: string): Promise<Uint8Array> {
  const st = await stat(path);
  if (st.isDirectory()) return sha3_256(await zipDirectory(path));
  return hashFile(path);
}
