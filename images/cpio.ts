// Deterministic newc ("070701") cpio writer and reader for Linux initramfs images.
// Same input entries → same bytes: entries are sorted by path, inodes are numbered in that
// order, owners are 0 and every mtime is one fixed value (SOURCE_DATE_EPOCH or 0).

export type CpioEntry =
  | { path: string; type: "dir"; mode?: number }
  | { path: string; type: "file"; data: Uint8Array; mode?: number }
  | { path: string; type: "symlink"; target: string }
  | { path: string; type: "chardev"; major: number; minor: number; mode?: number };

export interface ParsedEntry {
  path: string;
  mode: number;
  ino: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  rdevmajor: number;
  rdevminor: number;
  data: Uint8Array;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const TRAILER = "TRAILER!!!";
const enc = new TextEncoder();
const dec = new TextDecoder();

function normalize(path: string): string {
  const p = path.replace(/^\.?\/+/, "").replace(/\/+$/, "");
  if (!p || p.split("/").some((c) => c === "" || c === "." || c === ".."))
    throw new Error(`cpio: expected a relative path without empty, "." or ".." parts, got "${path}"`);
  return p;
}

function header(f: number[], nameSize: number): string {
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  return "070701" + [...f, nameSize, 0].map((n) => (n >>> 0).toString(16).padStart(8, "0")).join("");
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** Serialises entries into a newc archive; missing parent directories are added (mode 0755). */
export function writeCpio(entries: CpioEntry[], mtime = 0): Uint8Array[] {
  const byPath = new Map<string, CpioEntry>();
  for (const e of entries) {
    const path = normalize(e.path);
    if (byPath.has(path)) throw new Error(`cpio: duplicate entry "${path}"`);
    byPath.set(path, { ...e, path });
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const existing = byPath.get(dir);
      if (!existing) byPath.set(dir, { path: dir, type: "dir" });
      else if (existing.type !== "dir") throw new Error(`cpio: "${dir}" is a ${existing.type} but "${path}" needs it as a directory`);
    }
  }
  // Byte-wise order (not locale) so the archive does not depend on the build machine.
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const out: Uint8Array[] = [];
  const push = (name: string, mode: number, ino: number, nlink: number, data: Uint8Array, time: number, rdev = [0, 0]) => {
    const nameBytes = enc.encode(name + "\0");
    const head = enc.encode(header([ino, mode, 0, 0, nlink, time, data.length, 0, 0, rdev[0], rdev[1]], nameBytes.length));
    out.push(head, nameBytes, new Uint8Array(pad4(head.length + nameBytes.length)));
    if (data.length) out.push(data, new Uint8Array(pad4(data.length)));
  };
  let ino = 1;
  for (const e of sorted) {
    if (e.type === "dir") push(e.path, S_IFDIR | (e.mode ?? 0o755), ino++, 2, new Uint8Array(0), mtime);
    else if (e.type === "file") push(e.path, S_IFREG | (e.mode ?? 0o644), ino++, 1, e.data, mtime);
    else if (e.type === "symlink") push(e.path, S_IFLNK | 0o777, ino++, 1, enc.encode(e.target), mtime);
    else push(e.path, S_IFCHR | (e.mode ?? 0o600), ino++, 1, new Uint8Array(0), mtime, [e.major, e.minor]);
  }
  push(TRAILER, 0, 0, 1, new Uint8Array(0), 0);
  return out;
}

/** Parses a newc archive (used by tests and by tools that inspect an image). */
export function readCpio(buf: Uint8Array): ParsedEntry[] {
  const entries: ParsedEntry[] = [];
  let off = 0;
  for (;;) {
    if (off + 110 > buf.length) throw new Error(`cpio: truncated header at offset ${off} (archive is ${buf.length} bytes)`);
    const magic = dec.decode(buf.subarray(off, off + 6));
    if (magic !== "070701") throw new Error(`cpio: expected magic 070701 at offset ${off}, got "${magic}"`);
    const f = (i: number) => parseInt(dec.decode(buf.subarray(off + 6 + i * 8, off + 14 + i * 8)), 16);
    const nameSize = f(11);
    const size = f(6);
    const nameStart = off + 110;
    const path = dec.decode(buf.subarray(nameStart, nameStart + nameSize - 1));
    const dataStart = nameStart + nameSize + pad4(110 + nameSize);
    if (path === TRAILER) return entries;
    if (dataStart + size > buf.length) throw new Error(`cpio: entry "${path}" claims ${size} bytes past the end of the archive`);
    entries.push({ path, ino: f(0), mode: f(1), uid: f(2), gid: f(3), nlink: f(4), mtime: f(5), rdevmajor: f(9), rdevminor: f(10), data: buf.subarray(dataStart, dataStart + size) });
    off = dataStart + size + pad4(size);
  }
}

export const cpioModes = { S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR };
