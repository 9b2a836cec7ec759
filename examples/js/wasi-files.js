// Small file helpers over wasi:filesystem for StarlingMonkey guests (no node:fs there).
import { getDirectories } from "wasi:filesystem/preopens@0.2.12";

const CHUNK = 65536n;

/** The preopened directory descriptor named `guestPath` (e.g. "/datasets"). */
export function preopen(guestPath) {
  for (const [desc, name] of getDirectories()) if (name === guestPath) return desc;
  const names = getDirectories().map(([, n]) => n).join(", ") || "none";
  throw new Error(`no preopen ${guestPath}: expected the host to grant it, got [${names}]`);
}

export function readBytes(dir, name) {
  const fd = dir.openAt({}, name, {}, { read: true });
  const parts = [];
  let offset = 0n;
  for (;;) {
    const [bytes, eof] = fd.read(CHUNK, offset);
    if (bytes.length) parts.push(bytes);
    offset += BigInt(bytes.length);
    if (eof || bytes.length === 0) break;
  }
  const out = new Uint8Array(Number(offset));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export function readText(dir, name) {
  return new TextDecoder().decode(readBytes(dir, name));
}

export function writeText(dir, name, text) {
  const fd = dir.openAt({}, name, { create: true, truncate: true }, { write: true });
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += Number(fd.write(bytes.subarray(offset), BigInt(offset)));
}
