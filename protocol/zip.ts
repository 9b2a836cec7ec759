// Deterministic zip (the same tree always gives the same bytes, so a directory's checksum matches
// what the CLI uploads) and a defensive, streaming unzip (zip slip, symlinks, bombs, overlapping
// entries, reserved names): memory stays bounded whatever the archive, sizes are checked both from
// the central directory and while inflating.
import { zipSync, type Zippable } from "fflate";
import { constants as fsc } from "node:fs";
import { lstat, mkdir, mkdtemp, open, readdir, rename, rm, type FileHandle } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { crc32, createInflateRaw } from "node:zlib";

export class ZipError extends Error {
  override name = "ZipError";
}

/** 1980-01-01, the DOS epoch: the earliest time a zip header can hold, so no clock leaks in. */
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);
const FILE_ATTRS = (0o100644 << 16) >>> 0;

export type SkippedKind = "symbolic link" | "special file" | "hard link" | "reserved name";

export interface ZipDirectoryOptions {
  /**
   * Also skip regular files with more than one hard link (a guest could link a file it should not
   * publish into its results). Off for the CLI, whose directory hash must stay as it was.
   */
  skipHardLinks?: boolean;
  /** Told about every entry left out (symlinks, devices, fifos, sockets, hard links, reserved names). */
  onSkipped?: (name: string, kind: SkippedKind) => void;
  /**
   * Files added under the top-level folder `dir`, asked for after the tree was read (so they can tell
   * what was skipped). Entries of the tree under that name are left out.
   */
  appendix?: { dir: string; files: () => Record<string, Uint8Array> };
}

async function listFiles(root: string, dir: string, out: string[], o: ZipDirectoryOptions): Promise<void> {
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, ent.name);
    const name = relative(root, full).split(sep).join("/");
    if (o.appendix && name.split("/")[0] === o.appendix.dir) o.onSkipped?.(name, "reserved name");
    else if (ent.isDirectory()) await listFiles(root, full, out, o);
    else if (ent.isFile()) out.push(name);
    // Symlinks and special files are skipped: following them could pull in files outside the tree.
    else o.onSkipped?.(name, ent.isSymbolicLink() ? "symbolic link" : "special file");
  }
}

/** Reads a regular file without following a symlink that replaced it after the listing. */
async function readRegular(path: string, name: string, o: ZipDirectoryOptions): Promise<Uint8Array | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") return o.onSkipped?.(name, "symbolic link"), null;
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return o.onSkipped?.(name, "special file"), null;
    if (o.skipHardLinks && st.nlink > 1) return o.onSkipped?.(name, "hard link"), null;
    return new Uint8Array(await fh.readFile());
  } finally {
    await fh.close();
  }
}

/** Files only, names relative with '/', sorted by code unit, fixed mtime and mode, deflate level 6. */
export async function zipDirectory(dir: string, o: ZipDirectoryOptions = {}): Promise<Uint8Array> {
  const names: string[] = [];
  await listFiles(dir, dir, names, o);
  const files = new Map<string, Uint8Array>();
  for (const name of names) {
    const data = await readRegular(join(dir, name), name, o);
    if (data) files.set(name, data);
  }
  for (const [name, data] of Object.entries(o.appendix?.files() ?? {})) files.set(`${o.appendix!.dir}/${name}`, data);
  const entries: Zippable = {};
  for (const name of [...files.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    entries[name] = [files.get(name)!, { mtime: FIXED_MTIME, level: 6, os: 3, attrs: FILE_ATTRS }];
  }
  return zipSync(entries, { mtime: FIXED_MTIME });
}

export interface UnzipLimits {
  /** Total uncompressed bytes (declared and actual). Default 1 GiB. */
  maxBytes?: number;
  /** Uncompressed bytes of one entry (declared and actual). Default: maxBytes. */
  maxEntryBytes?: number;
  /** Number of entries. Default 10 000. */
  maxEntries?: number;
  /** Max uncompressed/compressed ratio of an entry larger than 1 MiB. Default 1100 (deflate's ceiling is ~1032). */
  maxRatio?: number;
  /** Top-level names the archive may not produce (names that belong to someone else); each maps to why. */
  reserved?: ReadonlyMap<string, string>;
}

interface Entry {
  name: string;
  method: number;
  crc: number;
  compSize: number;
  size: number;
  localOffset: number;
  dataStart: number;
  isDir: boolean;
}

/** Random access to the archive bytes: a file read piece by piece, or bytes already in memory. */
interface ZipSource {
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

function bytesSource(zip: Uint8Array): ZipSource {
  return { size: zip.length, read: async (off, len) => zip.subarray(off, off + len), close: async () => {} };
}

async function fileSource(path: string): Promise<ZipSource> {
  const fh = await open(path, "r");
  const size = (await fh.stat()).size;
  return {
    size,
    async read(off, len) {
      const buf = Buffer.alloc(Math.max(0, Math.min(len, size - off)));
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, off + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    },
    close: () => fh.close(),
  };
}

/** The central directory is read whole; this bounds it (100 000 entries with 300-byte names fit). */
const MAX_CENTRAL_DIRECTORY = 64 << 20;
/** Compressed bytes read per step, and the inflater's output chunk. */
const READ_STEP = 64 << 10;

function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
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

async function findEndRecord(src: ZipSource): Promise<{ count: number; cdSize: number; cdOffset: number; eocd: number }> {
  const minEocd = 22;
  if (src.size < minEocd) throw new ZipError(`not a zip: ${src.size} bytes, expected at least 22`);
  const tailStart = Math.max(0, src.size - minEocd - 0xffff);
  const tail = await src.read(tailStart, src.size - tailStart);
  const dv = dataView(tail);
  for (let i = tail.length - minEocd; i >= 0; i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      return { count: dv.getUint16(i + 10, true), cdSize: dv.getUint32(i + 12, true), cdOffset: dv.getUint32(i + 16, true), eocd: tailStart + i };
    }
  }
  throw new ZipError("not a zip: end-of-central-directory record not found");
}

async function parseEntries(src: ZipSource, maxEntries: number): Promise<Entry[]> {
  const { count, cdSize, cdOffset, eocd } = await findEndRecord(src);
  if (count === 0xffff || cdOffset === 0xffffffff) throw new ZipError("zip64 archives are not supported");
  if (count > maxEntries) throw new ZipError(`zip has ${count} entries, limit is ${maxEntries}`);
  if (cdOffset + cdSize > eocd) throw new ZipError("corrupt zip: central directory overlaps its end record");
  if (cdSize > MAX_CENTRAL_DIRECTORY) throw new ZipError(`zip central directory is ${cdSize} bytes, limit is ${MAX_CENTRAL_DIRECTORY}`);
  const cd = await src.read(cdOffset, cdSize);
  const dv = dataView(cd);
  const entries: Entry[] = [];
  let p = 0;
  const decoder = new TextDecoder("utf-8", { fatal: false });
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || dv.getUint32(p, true) !== 0x02014b50) throw new ZipError(`corrupt zip: bad central header #${i}`);
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
    if (p + 46 + nameLen > cd.length) throw new ZipError(`corrupt zip: central header #${i} runs past the directory`);
    const name = decoder.decode(cd.subarray(p + 46, p + 46 + nameLen));
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
    const local = await src.read(localOffset, 30);
    if (local.length < 30 || dataView(local).getUint32(0, true) !== 0x04034b50) throw new ZipError(`corrupt zip: bad local header for ${name}`);
    const dataStart = localOffset + 30 + dataView(local).getUint16(26, true) + dataView(local).getUint16(28, true);
    if (dataStart + compSize > cdOffset) throw new ZipError(`corrupt zip: data of ${name} runs past the central directory`);
    const isDir = name.endsWith("/") || fileType === 0o040000;
    entries.push({ name, method, crc, compSize, size, localOffset, dataStart, isDir });
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

interface Caps {
  maxBytes: number;
  maxEntryBytes: number;
  maxEntries: number;
  maxRatio: number;
}

/** Everything the central directory says, checked before a byte is written. */
function checkDeclared(entries: Entry[], caps: Caps, reserved: ReadonlyMap<string, string>): void {
  let declared = 0;
  const seen = new Set<string>();
  for (const e of entries) {
    declared += e.size;
    if (declared > caps.maxBytes) throw new ZipError(`zip declares ${declared}+ bytes uncompressed, limit is ${caps.maxBytes}`);
    if (e.size > caps.maxEntryBytes) throw new ZipError(`zip entry ${e.name} declares ${e.size} bytes, the limit per entry is ${caps.maxEntryBytes}`);
    if (e.size > 1 << 20 && e.size / Math.max(1, e.compSize) > caps.maxRatio) {
      throw new ZipError(`zip entry ${e.name}: compression ratio ${Math.round(e.size / Math.max(1, e.compSize))} exceeds ${caps.maxRatio}`);
    }
    const key = e.name.replace(/\/$/, "");
    if (!e.isDir && seen.has(key)) throw new ZipError(`zip has duplicate entry ${e.name}`);
    seen.add(key);
    const top = e.name.split("/")[0]!;
    const owner = reserved.get(top);
    if (owner !== undefined) throw new ZipError(`zip entry ${e.name} refused: the name ${JSON.stringify(top)} ${owner}`);
  }
}

async function* compressed(src: ZipSource, e: Entry): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < e.compSize; off += READ_STEP) {
    const piece = await src.read(e.dataStart + off, Math.min(READ_STEP, e.compSize - off));
    if (piece.length === 0) throw new ZipError(`corrupt zip: data of ${e.name} is truncated`);
    yield piece;
  }
}

const ZEROS = Buffer.alloc(READ_STEP);

/**
 * Streams one entry to `target` (exclusive create), counting bytes as they inflate: past the declared
 * size, the entry cap or the archive's remaining budget it stops at once. Runs of zeros are skipped
 * (the file is sparse), so a zeros bomb that the caps allow costs no disk either.
 */
async function extractEntry(src: ZipSource, e: Entry, target: string, budget: number, maxEntryBytes: number): Promise<number> {
  const fh = await open(target, "wx", 0o644);
  let total = 0;
  let crc = 0;
  try {
    const sink = async (chunks: AsyncIterable<Uint8Array>) => {
      for await (const c of chunks) {
        total += c.length;
        if (total > e.size) throw new ZipError(`zip entry ${e.name} inflates past its declared size ${e.size} (zip bomb pattern)`);
        if (total > maxEntryBytes) throw new ZipError(`zip entry ${e.name} exceeds the limit per entry of ${maxEntryBytes} bytes`);
        if (total > budget) throw new ZipError(`zip contents exceed the size limit`);
        crc = crc32(c, crc);
        if (c.length <= ZEROS.length && Buffer.from(c.buffer, c.byteOffset, c.length).equals(ZEROS.subarray(0, c.length))) continue;
        await fh.write(c, 0, c.length, total - c.length);
      }
    };
    const input = Readable.from(compressed(src, e));
    try {
      if (e.method === 0) await sink(input);
      else await pipeline(input, createInflateRaw({ chunkSize: READ_STEP }), sink);
    } catch (err) {
      if (err instanceof ZipError) throw err;
      throw new ZipError(`zip entry ${e.name}: corrupt deflate data (${(err as Error).message})`);
    }
    await fh.truncate(total);
  } finally {
    await fh.close();
  }
  if (total !== e.size) throw new ZipError(`zip entry ${e.name}: inflated to ${total} bytes, declared ${e.size}`);
  if (crc !== e.crc) throw new ZipError(`zip entry ${e.name}: CRC mismatch`);
  return total;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function extract(src: ZipSource, destDir: string, limits: UnzipLimits): Promise<string[]> {
  const caps: Caps = {
    maxBytes: limits.maxBytes ?? 1024 ** 3,
    maxEntryBytes: limits.maxEntryBytes ?? limits.maxBytes ?? 1024 ** 3,
    maxEntries: limits.maxEntries ?? 10_000,
    maxRatio: limits.maxRatio ?? 1100,
  };
  const entries = await parseEntries(src, caps.maxEntries);
  checkDeclared(entries, caps, limits.reserved ?? new Map());
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
      try {
        await mkdir(dirname(target), { recursive: true });
        written += await extractEntry(src, e, target, caps.maxBytes - written, caps.maxEntryBytes);
      } catch (err) {
        if (err instanceof ZipError) throw err;
        // E.g. a file "a" and an entry "a/b": the archive cannot be laid out as a tree.
        throw new ZipError(`zip entry ${e.name} could not be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
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

/**
 * Extracts into destDir and returns the written file names. Everything is checked and extracted into a
 * staging directory first, then moved in; on any failure nothing is left behind.
 */
export async function unzipInto(zip: Uint8Array, destDir: string, limits: UnzipLimits = {}): Promise<string[]> {
  return extract(bytesSource(zip), destDir, limits);
}

/** unzipInto for an archive on disk, read piece by piece (never whole). */
export async function unzipFile(zipPath: string, destDir: string, limits: UnzipLimits = {}): Promise<string[]> {
  const src = await fileSource(zipPath);
  try {
    return await extract(src, destDir, limits);
  } finally {
    await src.close();
  }
}
