// Byte encodings the verifiers need, in plain JS (no Buffer, no node:*) so the same parsers and
// checks run in a browser bundle. Hashing lives in the crypto backends (crypto/backend.ts).

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
}

export function fromHex(s: string): Uint8Array {
  const clean = s.trim().replace(/^0x/i, "");
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) throw new Error(`expected an even-length hex string, got ${JSON.stringify(s.slice(0, 80))}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Constant-time comparison (digests, report fields). */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Map([...B64].map((c, i) => [c, i] as const).concat([["-", 62], ["_", 63]]));

/** Lenient like Buffer.from(s, "base64"): standard or URL alphabet, padding optional, other characters skipped. */
export function fromBase64(s: string): Uint8Array {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of s) {
    if (ch === "=") break;
    const v = B64_INDEX.get(ch);
    if (v === undefined) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return new Uint8Array(out);
}

export function toBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + (i + 1 < b.length ? B64[(n >> 6) & 63]! : "=") + (i + 2 < b.length ? B64[n & 63]! : "=");
  }
  return s;
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
  for (let m; (m = re.exec(pem)); ) out.push(fromBase64(m[2]!.replace(/\s+/g, "")));
  return out;
}

export function derToPem(der: Uint8Array, label = "CERTIFICATE"): string {
  const b = toBase64(der).replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b}\n-----END ${label}-----\n`;
}
