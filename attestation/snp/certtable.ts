// The SNP extended-report certificate table (GHCB spec / configfs-tsm auxblob): entries of
// GUID(16) | offset u32 | length u32, ended by an all-zero entry; offsets count from the table start.
// Evidence on the wire = report (1184 bytes) ‖ optional table, like Cocos's attestation.bin.
import { fromHex, toHex } from "../encoding.ts";

export const GUIDS = {
  ark: "c0b406a4-a803-4952-9743-3fb6014cd0ae",
  ask: "4ab7b379-bbac-4fe4-a02f-05aef327c782",
  vcek: "63da758d-e664-4564-adc5-f4b93be8accd",
  vlek: "a8074bc2-a25a-483e-aae6-39c045a0b8a1",
} as const;
// An ASVK travels under the ASK GUID (the spec uses one slot for "the key that signed the leaf").

export type CertName = "ark" | "ask" | "vcek" | "vlek";
export type CertSet = Partial<Record<CertName, Uint8Array>>;

function guidBytes(g: string): Uint8Array {
  const b = fromHex(g.replace(/-/g, ""));
  // EFI GUID: the first three fields are little-endian.
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

function guidString(b: Uint8Array): string {
  const c = Uint8Array.from(b); // a copy even for a Buffer (whose slice() is a view: the evidence would be reordered in place)
  c.subarray(0, 4).reverse();
  c.subarray(4, 6).reverse();
  c.subarray(6, 8).reverse();
  const h = toHex(c);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const NAMES: Record<string, CertName> = { [GUIDS.ark]: "ark", [GUIDS.ask]: "ask", [GUIDS.vcek]: "vcek", [GUIDS.vlek]: "vlek" };

export type TableResult = { ok: true; certs: CertSet; unknown: string[] } | { ok: false; detail: string };

export function parseCertTable(t: Uint8Array): TableResult {
  const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
  const certs: CertSet = {};
  const unknown: string[] = [];
  for (let p = 0; ; p += 24) {
    if (p + 24 > t.length) return { ok: false, detail: `certificate table entry at ${p} needs 24 bytes, ${t.length - p} left` };
    const guid = t.subarray(p, p + 16);
    const off = dv.getUint32(p + 16, true);
    const len = dv.getUint32(p + 20, true);
    if (guid.every((x) => x === 0) && off === 0 && len === 0) return { ok: true, certs, unknown };
    if (off < p + 24 || off + len > t.length) return { ok: false, detail: `certificate table entry ${p / 24} points at ${off}+${len}, table is ${t.length} bytes` };
    const g = guidString(guid);
    const name = NAMES[g];
    if (name) certs[name] = t.slice(off, off + len);
    else unknown.push(g);
  }
}

export function buildCertTable(certs: CertSet): Uint8Array {
  const entries = (Object.entries(certs) as [CertName, Uint8Array | undefined][]).filter((e): e is [CertName, Uint8Array] => !!e[1]);
  const header = 24 * (entries.length + 1);
  const out = new Uint8Array(header + entries.reduce((s, [, d]) => s + d.length, 0));
  const dv = new DataView(out.buffer);
  let off = header;
  entries.forEach(([n, d], i) => {
    out.set(guidBytes(GUIDS[n]), i * 24);
    dv.setUint32(i * 24 + 16, off, true);
    dv.setUint32(i * 24 + 20, d.length, true);
    out.set(d, off);
    off += d.length;
  });
  return out;
}
