// Minimal strict DER reader/writer: enough for X.509 certificates, CRLs and the
// extensions we read (AMD VCEK, Intel PCK) or write (sim chain, aTLS evidence).
import { concatBytes } from "./encoding.ts";

export class Asn1Error extends Error {}

export interface Node {
  tag: number; // full identifier octet (class | constructed | number), single-byte tags only
  start: number; // offset of the identifier octet in `buf`
  headerLen: number;
  len: number; // content length
  buf: Uint8Array;
}

export const TAG = {
  BOOLEAN: 0x01, INTEGER: 0x02, BIT_STRING: 0x03, OCTET_STRING: 0x04, NULL: 0x05, OID: 0x06,
  UTF8: 0x0c, PRINTABLE: 0x13, IA5: 0x16, UTC_TIME: 0x17, GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30, SET: 0x31,
} as const;

export function read(buf: Uint8Array, offset = 0, limit = buf.length): Node {
  if (offset + 2 > limit) throw new Asn1Error(`DER: need a header at ${offset}, only ${limit - offset} bytes left`);
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new Asn1Error(`DER: multi-byte tag at ${offset} not supported`);
  let p = offset + 1;
  let len = buf[p++];
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Asn1Error(`DER: bad length-of-length ${n} at ${offset}`);
    if (p + n > limit) throw new Asn1Error(`DER: truncated length at ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++];
    if (len < 0x80 || (n > 1 && buf[p - n] === 0)) throw new Asn1Error(`DER: non-minimal length at ${offset}`);
  }
  if (p + len > limit) throw new Asn1Error(`DER: element at ${offset} wants ${len} bytes, ${limit - p} available`);
  return { tag, start: offset, headerLen: p - offset, len, buf };
}

/** Reads exactly one element spanning the whole buffer. */
export function readAll(buf: Uint8Array): Node {
  const n = read(buf, 0);
  if (end(n) !== buf.length) throw new Asn1Error(`DER: ${buf.length - end(n)} trailing bytes after the element`);
  return n;
}

export const end = (n: Node) => n.start + n.headerLen + n.len;
export const value = (n: Node) => n.buf.subarray(n.start + n.headerLen, end(n));
export const raw = (n: Node) => n.buf.subarray(n.start, end(n));

export function children(n: Node): Node[] {
  if (!(n.tag & 0x20)) throw new Asn1Error(`DER: tag 0x${n.tag.toString(16)} is not constructed`);
  const out: Node[] = [];
  let p = n.start + n.headerLen;
  const e = end(n);
  while (p < e) {
    const c = read(n.buf, p, e);
    out.push(c);
    p = end(c);
  }
  return out;
}

export function expect(n: Node | undefined, tag: number, what: string): Node {
  if (!n) throw new Asn1Error(`DER: missing ${what}`);
  if (n.tag !== tag) throw new Asn1Error(`DER: ${what}: expected tag 0x${tag.toString(16)}, got 0x${n.tag.toString(16)}`);
  return n;
}

export function decodeOid(n: Node): string {
  const v = value(expect(n, TAG.OID, "OID"));
  if (v.length === 0) throw new Asn1Error("DER: empty OID");
  const parts: string[] = [];
  let acc = 0n; // BigInt: 2.25.<uuid> arcs exceed 2^53
  for (let i = 0; i < v.length; i++) {
    acc = acc * 128n + BigInt(v[i] & 0x7f);
    if (!(v[i] & 0x80)) {
      if (parts.length === 0) {
        const first = acc < 80n ? acc / 40n : 2n;
        parts.push(String(first), String(acc - first * 40n));
      } else parts.push(String(acc));
      acc = 0n;
    }
  }
  return parts.join(".");
}

/** Unsigned big-endian integer content (leading zero stripped); for small values use intValue. */
export function uintBytes(n: Node): Uint8Array {
  const v = value(expect(n, TAG.INTEGER, "INTEGER"));
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  return v.subarray(i);
}

export function intValue(n: Node): number {
  const v = value(expect(n, TAG.INTEGER, "INTEGER"));
  if (v.length > 6) throw new Asn1Error(`DER: INTEGER of ${v.length} bytes too large`);
  let x = v[0] & 0x80 ? -1 : 0;
  for (const b of v) x = x * 256 + b;
  return x;
}

export function decodeTime(n: Node): Date {
  const s = new TextDecoder().decode(value(n));
  let m: RegExpMatchArray | null;
  if (n.tag === TAG.UTC_TIME && (m = s.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  }
  if (n.tag === TAG.GENERALIZED_TIME && (m = s.match(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/)))
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  throw new Asn1Error(`DER: bad time "${s}"`);
}

// ---------------------------------------------------------------- writer

function lenBytes(len: number): number[] {
  if (len < 0x80) return [len];
  const out: number[] = [];
  for (let l = len; l > 0; l = Math.floor(l / 256)) out.unshift(l & 0xff);
  return [0x80 | out.length, ...out];
}

export function tlv(tag: number, content: Uint8Array): Uint8Array {
  const h = [tag, ...lenBytes(content.length)];
  const out = new Uint8Array(h.length + content.length);
  out.set(h, 0);
  out.set(content, h.length);
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts);
}

export const seq = (...items: Uint8Array[]) => tlv(TAG.SEQUENCE, concat(items));
export const set = (...items: Uint8Array[]) => tlv(TAG.SET, concat(items));
export const octets = (b: Uint8Array) => tlv(TAG.OCTET_STRING, b);
export const bitString = (b: Uint8Array) => tlv(TAG.BIT_STRING, concat([new Uint8Array([0]), b]));
export const utf8 = (s: string) => tlv(TAG.UTF8, new TextEncoder().encode(s));
export const ia5 = (s: string) => tlv(TAG.IA5, new TextEncoder().encode(s));
export const bool = (b: boolean) => tlv(TAG.BOOLEAN, new Uint8Array([b ? 0xff : 0]));
export const nul = () => new Uint8Array([TAG.NULL, 0]);
/** Context-specific tag [n]; constructed (explicit) by default. */
export const ctx = (n: number, content: Uint8Array, constructed = true) => tlv((constructed ? 0xa0 : 0x80) | n, content);

export function uint(v: number | bigint | Uint8Array): Uint8Array {
  let b: number[];
  if (v instanceof Uint8Array) {
    b = [...v];
    while (b.length > 1 && b[0] === 0) b.shift();
  } else {
    let x = BigInt(v);
    if (x < 0n) throw new Asn1Error("DER writer: negative INTEGER not supported");
    b = [];
    do {
      b.unshift(Number(x & 0xffn));
      x >>= 8n;
    } while (x > 0n);
  }
  if (b.length === 0) b = [0];
  if (b[0] & 0x80) b.unshift(0);
  return tlv(TAG.INTEGER, new Uint8Array(b));
}

export function oid(s: string): Uint8Array {
  if (!/^\d+(\.\d+)+$/.test(s)) throw new Asn1Error(`bad OID "${s}"`);
  const p = s.split(".").map(BigInt);
  const out: number[] = [];
  const push = (x: bigint) => {
    const tmp = [Number(x & 0x7fn)];
    for (x >>= 7n; x > 0n; x >>= 7n) tmp.unshift(0x80 | Number(x & 0x7fn));
    out.push(...tmp);
  };
  push(p[0] * 40n + p[1]);
  for (const x of p.slice(2)) push(x);
  return tlv(TAG.OID, new Uint8Array(out));
}

export function time(d: Date): Uint8Array {
  const y = d.getUTCFullYear();
  const pad = (x: number) => String(x).padStart(2, "0");
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  // RFC 5280: UTCTime through 2049, GeneralizedTime after.
  if (y >= 1950 && y < 2050) return tlv(TAG.UTC_TIME, new TextEncoder().encode(pad(y % 100) + rest));
  return tlv(TAG.GENERALIZED_TIME, new TextEncoder().encode(String(y) + rest));
}
