// Byte helpers shared by the verifiers.
import { createHash } from "node:crypto";
import { fromHex } from "../protocol/hash.ts";

export { toHex, fromHex } from "../protocol/hash.ts";
export { equalBytes as equal } from "../protocol/hash.ts";
import { sha3_512 as sha3_512_one } from "../protocol/hash.ts";

export function fromBase64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "base64"));
}

export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

/** Hex or base64 → bytes of an exact length (the CLI and policy files use either). */
export function decodeFixed(s: string, len: number, what: string): Uint8Array {
  const t = s.trim();
  if (t.length === len * 2 && /^[0-9a-fA-F]+$/.test(t)) return fromHex(t);
  const b = fromBase64(t);
  if (b.length !== len) throw new Error(`${what}: expected ${len} bytes as hex (${len * 2} chars) or base64, got "${t.slice(0, 40)}" (${b.length} bytes as base64)`);
  return b;
}

export const isZero = (b: Uint8Array) => b.every((x) => x === 0);

export function sha(alg: "sha256" | "sha384" | "sha512", ...parts: Uint8Array[]): Uint8Array {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export const sha3_512 = (...parts: Uint8Array[]) => sha3_512_one(parts.length === 1 ? parts[0] : concatBytes(...parts));

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function pemToDer(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m; (m = re.exec(pem)); ) out.push(fromBase64(m[2].replace(/\s+/g, "")));
  return out;
}

export function derToPem(der: Uint8Array, label = "CERTIFICATE"): string {
  const b = toBase64(der).replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b}\n-----END ${label}-----\n`;
}
