// Deterministic zip (the same tree always gives the same bytes, so a directory's checksum matches
// what the CLI uploads) and a defensive unzip (zip slip, symlinks, bombs, overlapping entries).
import { Inflate, zipSync, type Zippable } from "fflate";
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";

export class ZipError extends Error {
  override name = "ZipError";
}

/** 1980-01-01, the DOS epoch: the earliest time a zip header can hold, so no clock leaks in. */
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);
const FILE_ATTRS = (0o100644 << 16) >>> 0;

async function listFiles(root: string, dir: string, out: string[]): Promise<void> {
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, ent.name);
    if (ent.isDirectory()) await listFiles(root, full, out);
    else if (ent.isFile()) out.push(relative(root, full).split(sep).join("/"));
    // Symlinks and special files are skipped: following them could pull in files outside the tree.
  }
}

/** Files only, names relative with '/', sorted by code unit, fixed mtime and mode, deflate level 6. */
export async function zipDirectory(dir: string): Promise<Uint8Array> {
  const names: string[] = [];
  await listFiles(dir, dir, names);
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const entries: Zippable = {};
  for (const name of names) {
    const data = new Uint8Array(await readFile(join(dir, name)));
    entries[name] = [data, { mtime: FIXED_MTIME, level: 6, os: 3, attrs: FILE_ATTRS }];
  }
  return zipSync(entries, { mtime: FIXED_MTIME });
}

export interface UnzipLimits {
  /** Total uncompressed bytes (declared and actual). Default 1 GiB. */
  maxBytes?: number;
  /** Number of entries. Default 10 000. */
  maxEntries?: number;
  /** Max uncompressed/compressed ratio of an entry larger than 1 MiB. Default 1100 (deflate's ceiling is ~1032). */
  maxRatio?: number;
}

interface Entry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compSize: number;
  size: number;
  localOffset: number;
  dataStart: number;
  isDir: boolean;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32Update(crc: number, data: Uint8Array): number {
  let c = crc ^ 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Rejects every name that could land outside the destination or mean different things on other OSes. */
export function checkEntryName(name: string): void {
  const bad = (why: string) => new ZipError(`zip entry ${JSON.stringify(name)} refused: ${why}`);
  if (name.length === 0) throw bad("empty name");
  if (name.includes("\0")) throw bad("NUL in name");
  if (name.includes("\\")) throw bad("backslash in name (expected '/' separators)");
  if (name.startsWith("/")) throw bad("absolute path");
  if (/^[A-Za-z]:/.test(name)) throw bad("drive-letter path");
  const parts = name.replace(/\/$/, "").split("/");
  for (const p of parts) {
    if (p === "..") throw bad("'..' path segment");
    if (p === "" || p === ".") throw bad("empty or '.' path segment");
  }
}

function parseEntries(zip: Uint8Array, maxEntries: number): Entry[] {
  const dv = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const minEocd = 22;
  if (zip.length < minEocd) throw new ZipError(`not a zip: ${zip.length} bytes, expected at least 22`);
  let eocd = -1;
  for (let i = zip.length - minEocd; i >= Math.max(0, zip.length - minEocd - 0xffff); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError("not a zip: end-of-central-directory record not found");
  const count = dv.getUint16(eocd + 10, true);
  const cdSize = dv.getUint32(eocd + 12, true);
  const cdOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdOffset === 0xffffffff) throw new ZipError("zip64 archives are not supported");
  if (count > maxEntries) throw new ZipError(`zip has ${count} entries, limit is ${maxEntries}`);
  if (cdOffset + cdSize > eocd) throw new ZipError("corrupt zip: central directory overlaps its end record");
  const entries: Entry[] = [];
  let p = cdOffset;
  const decoder = new TextDecoder("utf-8", { fatal: false });
  for (let i = 0; i < count; i++) {
    if (p + 46 > eocd || dv.getUint32(p, true) !== 0x02014b50) throw new ZipError(`corrupt zip: bad central header #${i}`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    const compSize = dv.getUint32(p + 20, true);
    const size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    const madeBy = dv.getUint16(p + 4, true) >> 8;
    const extAttrs = dv.getUint32(p + 38, true);
    const localOffset = dv.getUint32(p + 42, true);
    const name = decoder.decode(zip.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    checkEntryName(name);
    if (compSize === 0xffffffff || size === 0xffffffff) throw new ZipError(`zip entry ${name}: zip64 sizes are not supported`);
    if (flags & 1) throw new ZipError(`zip entry ${name}: encrypted entries are not supported`);
    const unixMode = madeBy === 3 ? extAttrs >>> 16 : 0;
    const fileType = unixMode & 0o170000;
    if (fileType === 0o120000) throw new ZipError(`zip entry ${name} refused: symbolic link`);
    if (fileType !== 0 && fileType !== 0o100000 && fileType !== 0o040000) {
      throw new ZipError(`zip entry ${name} refused: special file (mode ${fileType.toString(8)})`);
    }
    if (method !== 0 && method !== 8) throw new ZipError(`zip entry ${name}: compression method ${method}, expected 0 (store) or 8 (deflate)`);
    if (localOffset + 30 > zip.length || dv.getUint32(localOffset, true) !== 0x04034b50) {
      throw new ZipError(`corrupt zip: bad local header for ${name}`);
    }
    const dataStart = localOffset + 30 + dv.getUint16(localOffset + 26, true) + dv.getUint16(localOffset + 28, true);
    if (dataStart + compSize > cdOffset) throw new ZipError(`corrupt zip: data of ${name} runs past the central directory`);
    const isDir = name.endsWith("/") || fileType === 0o040000;
    entries.push({ name, method, flags, crc, compSize, size, localOffset, dataStart, isDir });
  }
  // Overlapping entries are the classic non-recursive zip bomb: many headers sharing one payload.
  const spans = [...entries].sort((a, b) => a.localOffset - b.localOffset);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    if (spans[i]!.localOffset < prev.dataStart + prev.compSize) {
      throw new ZipError(`zip entries ${prev.name} and ${spans[i]!.name} overlap (zip bomb pattern)`);
    }
  }
  return entries;
}

function inflateEntry(zip: Uint8Array, e: Entry, budget: number): Uint8Array {
  const src = zip.subarray(e.dataStart, e.dataStart + e.compSize);
  if (e.method === 0) {
    if (e.compSize !== e.size) throw new ZipError(`zip entry ${e.name}: stored size ${e.compSize} ≠ declared ${e.size}`);
    return src;
  }
  const out: Uint8Array[] = [];
  let total = 0;
  let failure: ZipError | null = null;
  const inf = new Inflate((chunk) => {
    total += chunk.length;
    if (total > e.size) failure ??= new ZipError(`zip entry ${e.name} inflates past its declared size ${e.size} (zip bomb pattern)`);
    else if (total > budget) failure ??= new ZipError(`zip contents exceed the size limit`);
    else out.push(chunk);
  });
  const STEP = 16 * 1024;
  for (let off = 0; off < src.length && !failure; off += STEP) {
    try {
      inf.push(src.subarray(off, Math.min(off + STEP, src.length)), off + STEP >= src.length);
    } catch (err) {
      throw new ZipError(`zip entry ${e.name}: corrupt deflate data (${(err as Error).message})`);
    }
  }
  if (failure) throw failure;
  const buf = new Uint8Array(total);
  let o = 0;
  for (const c of out) {
    buf.set(c, o);
    o += c.length;
  }
  if (total !== e.size) throw new ZipError(`zip entry ${e.name}: inflated to ${total} bytes, declared ${e.size}`);
  return buf;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Extracts into destDir and returns the written file names. Everything is checked and extracted into a
 * staging directory first, then moved in; on any failure nothing is left behind.
 */
export async function unzipInto(zip: Uint8Array, destDir: string, limits: UnzipLimits = {}): Promise<string[]> {
  const maxBytes = limits.maxBytes ?? 1024 ** 3;
  const maxEntries = limits.maxEntries ?? 10_000;
  const maxRatio = limits.maxRatio ?? 1100;
  const entries = parseEntries(zip, maxEntries);
  let declared = 0;
  for (const e of entries) {
    declared += e.size;
    if (declared > maxBytes) throw new ZipError(`zip declares ${declared}+ bytes uncompressed, limit is ${maxBytes}`);
    if (e.size > 1 << 20 && e.size / Math.max(1, e.compSize) > maxRatio) {
      throw new ZipError(`zip entry ${e.name}: compression ratio ${Math.round(e.size / Math.max(1, e.compSize))} exceeds ${maxRatio}`);
    }
  }
  const seen = new Set<string>();
  for (const e of entries) {
    const key = e.name.replace(/\/$/, "");
    if (!e.isDir && seen.has(key)) throw new ZipError(`zip has duplicate entry ${e.name}`);
    seen.add(key);
  }
  await mkdir(destDir, { recursive: true });
  const staging = await mkdtemp(join(destDir, ".unzip-"));
  try {
    let written = 0;
    const files: string[] = [];
    for (const e of entries) {
      const target = join(staging, e.name);
      if (e.isDir) {
        await mkdir(target, { recursive: true });
        continue;
      }
      const data = inflateEntry(zip, e, maxBytes - written);
      written += data.length;
      if (crc32Update(0, data) !== e.crc) throw new ZipError(`zip entry ${e.name}: CRC mismatch`);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, data, { flag: "wx", mode: 0o644 });
      files.push(e.name);
    }
    const tops = new Set(entries.map((e) => e.name.split("/")[0]!));
    for (const top of tops) {
      if (await exists(join(destDir, top))) throw new ZipError(`zip entry ${top} would overwrite an existing file in the destination`);
    }
    for (const top of tops) await rename(join(staging, top), join(destDir, top));
    return files.sort();
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
