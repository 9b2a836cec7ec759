// Byte helpers shared by the verifiers: the browser-safe encodings (encoding.ts) plus node:crypto
// digests for server-side callers. Code that must also run in a browser imports encoding.ts.
import { createHash } from "node:crypto";
import { sha3_512 as sha3_512_one } from "../protocol/hash.ts";
import { concatBytes } from "./encoding.ts";

export { toHex, fromHex, equal, fromBase64, toBase64, decodeFixed, isZero, concatBytes, pemToDer, derToPem } from "./encoding.ts";

export function sha(alg: "sha256" | "sha384" | "sha512", ...parts: Uint8Array[]): Uint8Array {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export const sha3_512 = (...parts: Uint8Array[]) => sha3_512_one(parts.length === 1 ? parts[0]! : concatBytes(...parts));
