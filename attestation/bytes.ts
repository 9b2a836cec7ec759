// Byte helpers shared by the verifiers.
import { createHash } from "node:crypto";

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** Strict hex decode (no 0x, even length); throws with what arrived. */
export function fromHex(s: string): Uint8Array {
  const t = s.trim().replace(/^0x/i, "");
  if (t.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(t)) throw new Error(`expected hex, got "${s.slice(0, 40)}${s.length > 40 ? "…" : ""}"`);
  return new Uint8Array(Buffer.from(t, "hex"));
}

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

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export const isZero = (b: Uint8Array) => b.every((x) => x === 0);

export function sha(alg: "sha256" | "sha384" | "sha512", ...parts: Uint8Array[]): Uint8Array {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function sha3_512(...parts: Uint8Array[]): Uint8Array {
  const h = new Bun.CryptoHasher("sha3-512");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

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
