// wasi:filesystem/types descriptors over synchronous node:fs, inside the run Worker. Every path
// goes through resolveInRoot (paths.ts); a read-only preopen refuses every mutating call; every
// byte written to a writable preopen is charged to the results budget before it reaches the disk.

import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  constants,
  type BigIntStats,
  type Dirent,
  type Stats,
} from "node:fs";
import { posix } from "node:path";
import { setFileTimes, setPathTimes, type TimeSpec } from "./file-times.ts";
import { FileInputStream, FileOutputStream, STREAM_BUDGET, type FsHooks } from "./file-streams.ts";
import { code } from "./fs-errors.ts";
import { resolveInRoot, type Root } from "./paths.ts";

const MAX_OPEN_FILES = 1024;
/** Charged per directory entry a guest creates, so a flood of empty files also meets the cap. */
const ENTRY_COST = 512;

/** What the descriptors of one run share: the hooks and the count of open host files. */
export interface FsState {
  hooks: FsHooks;
  openFiles: number;
}

function trackOpen(fs: FsState, fd: number): void {
  fs.openFiles++;
  fs.hooks.fdOpened(fd);
}
function trackClose(fs: FsState, fd: number): void {
  fs.openFiles--;
  fs.hooks.fdClosed(fd);
  try {
    closeSync(fd);
  } catch {
    // already closed by the OS on error paths; nothing to release
  }
}

function typeOf(st: Stats | BigIntStats | Dirent): string {
  if (st.isFile()) return "regular-file";
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symbolic-link";
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return "character-device";
  if (st.isBlockDevice()) return "block-device";
  return "unknown";
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

interface Datetime {
  seconds: bigint;
  nanoseconds: number;
}
// Stats are read as bigints: a double of milliseconds cannot carry the nanoseconds a guest set.
function toDatetime(ns: bigint): Datetime {
  return { seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) };
}
function statResult(st: BigIntStats) {
  return {
    type: typeOf(st),
    linkCount: st.nlink,
    size: st.size,
    dataAccessTimestamp: toDatetime(st.atimeNs),
    dataModificationTimestamp: toDatetime(st.mtimeNs),
    statusChangeTimestamp: toDatetime(st.ctimeNs),
  };
}
type NewTimestamp = { tag: "no-change" } | { tag: "now" } | { tag: "timestamp"; val: Datetime };
function timeSpec(t: NewTimestamp): TimeSpec {
  if (t.tag === "no-change") return null;
  if (t.tag === "now") return "now";
  return t.val.seconds * 1_000_000_000n + BigInt(t.val.nanoseconds);
}

interface DescriptorFlags {
  read?: boolean;
  write?: boolean;
  fileIntegritySync?: boolean;
  dataIntegritySync?: boolean;
  requestedWriteSync?: boolean;
  mutateDirectory?: boolean;
}
interface PathFlags {
  symlinkFollow?: boolean;
}
interface OpenFlags {
  create?: boolean;
  directory?: boolean;
  exclusive?: boolean;
  truncate?: boolean;
}

export class DirectoryEntryStream {
  #entries: Dirent[];
  #i = 0;
  constructor(entries: Dirent[]) {
    this.#entries = entries;
  }
  readDirectoryEntry(): { type: string; name: string } | undefined {
    const e = this.#entries[this.#i++];
    return e ? { type: typeOf(e), name: e.name } : undefined;
  }
  [Symbol.dispose](): void {}
}

export class Descriptor {
  #fs: FsState;
  #root: Root;
  #host: string;
  #fd: number | null;
  #flags: DescriptorFlags;
  #isDir: boolean;

  constructor(fs: FsState, root: Root, host: string, fd: number | null, flags: DescriptorFlags, isDir: boolean) {
    this.#fs = fs;
    this.#root = root;
    this.#host = host;
    this.#fd = fd;
    this.#flags = flags;
    this.#isDir = isDir;
  }

  #file(): number {
    if (this.#isDir || this.#fd === null) throw "is-directory";
    return this.#fd;
  }
  #dir(): void {
    if (!this.#isDir) throw "not-directory";
  }
  #writable(): void {
    if (this.#root.readOnly) throw "read-only";
  }
  #at(path: string, follow = false): string {
    this.#dir();
    return resolveInRoot(this.#root, this.#host, path, follow);
  }
  /** This directory's host path, re-validated (see resolve). */
  #self(): string {
    return resolveInRoot(this.#root, this.#host, ".", true);
  }

  readViaStream(offset: bigint) {
    const fd = this.#file();
    if (!this.#flags.read) throw "bad-descriptor";
    return new FileInputStream(this, fd, Number(offset));
  }
  writeViaStream(offset: bigint) {
    const fd = this.#file();
    if (!this.#flags.write || this.#root.readOnly) throw "bad-descriptor";
    return new FileOutputStream(this, this.#fs.hooks, fd, Number(offset));
  }
  appendViaStream() {
    const fd = this.#file();
    if (!this.#flags.write || this.#root.readOnly) throw "bad-descriptor";
    return new FileOutputStream(this, this.#fs.hooks, fd, "append");
  }
  advise(): void {
    this.#file();
  }
  syncData(): void {
    if (this.#fd !== null) fdatasyncSync(this.#fd);
  }
  sync(): void {
    if (this.#fd !== null) fsyncSync(this.#fd);
  }
  getFlags(): DescriptorFlags {
    return { ...this.#flags };
  }
  getType(): string {
    return this.#isDir ? "directory" : typeOf(fstatSync(this.#file()));
  }
  setSize(size: bigint): void {
    const fd = this.#file();
    this.#writable();
    if (!this.#flags.write) throw "bad-descriptor";
    try {
      const current = fstatSync(fd).size;
      if (Number(size) > current) this.#fs.hooks.chargeWrite(Number(size) - current);
      ftruncateSync(fd, Number(size));
    } catch (e) {
      throw code(e);
    }
  }
  setTimes(atime: NewTimestamp, mtime: NewTimestamp): void {
    this.#writable();
    try {
      const st = this.#stat();
      if (this.#fd !== null) setFileTimes(this.#fd, timeSpec(atime), timeSpec(mtime), st);
      else setPathTimes(this.#self(), false, timeSpec(atime), timeSpec(mtime), st); // resolved: never let the kernel follow
    } catch (e) {
      throw code(e);
    }
  }
  read(length: bigint, offset: bigint): [Uint8Array, boolean] {
    const fd = this.#file();
    if (!this.#flags.read) throw "bad-descriptor";
    const n = Number(length > STREAM_BUDGET ? STREAM_BUDGET : length);
    const buf = new Uint8Array(n);
    try {
      const got = readSync(fd, buf, 0, n, Number(offset));
      return [buf.subarray(0, got), got < n];
    } catch (e) {
      throw code(e);
    }
  }
  write(buffer: Uint8Array, offset: bigint): bigint {
    const fd = this.#file();
    if (!this.#flags.write || this.#root.readOnly) throw "bad-descriptor";
    this.#fs.hooks.chargeWrite(buffer.length);
    try {
      return BigInt(writeSync(fd, buffer, 0, buffer.length, Number(offset)));
    } catch (e) {
      throw code(e);
    }
  }
  readDirectory() {
    this.#dir();
    try {
      return new DirectoryEntryStream(readdirSync(this.#self(), { withFileTypes: true }));
    } catch (e) {
      throw code(e);
    }
  }
  #stat(): BigIntStats {
    try {
      return this.#fd !== null ? fstatSync(this.#fd, { bigint: true }) : statSync(this.#self(), { bigint: true });
    } catch (e) {
      throw code(e);
    }
  }
  stat() {
    return statResult(this.#stat());
  }
  statAt(flags: PathFlags, path: string) {
    const p = this.#at(path, !!flags.symlinkFollow);
    try {
      return statResult(lstatSync(p, { bigint: true }));
    } catch (e) {
      throw code(e);
    }
  }
  setTimesAt(flags: PathFlags, path: string, atime: NewTimestamp, mtime: NewTimestamp): void {
    this.#writable();
    const p = this.#at(path, !!flags.symlinkFollow);
    try {
      // `p` is resolved (symlinks expanded when following), so a remaining symlink is stamped itself.
      const st = lstatSync(p, { bigint: true });
      setPathTimes(p, false, timeSpec(atime), timeSpec(mtime), st);
    } catch (e) {
      throw code(e);
    }
  }
  createDirectoryAt(path: string): void {
    this.#writable();
    this.#fs.hooks.chargeWrite(ENTRY_COST);
    try {
      mkdirSync(this.#at(path));
    } catch (e) {
      throw code(e);
    }
  }
  linkAt(oldFlags: PathFlags, oldPath: string, newDir: Descriptor, newPath: string): void {
    // A hard link into a writable tree would make a read-only file writable: same root only.
    this.#writable();
    if (!(newDir instanceof Descriptor) || newDir.#root.real !== this.#root.real) throw "cross-device";
    this.#fs.hooks.chargeWrite(ENTRY_COST);
    const from = this.#at(oldPath, !!oldFlags.symlinkFollow);
    const to = newDir.#at(newPath);
    try {
      linkSync(from, to);
    } catch (e) {
      throw code(e);
    }
  }
  openAt(pathFlags: PathFlags, path: string, openFlags: OpenFlags, flags: DescriptorFlags) {
    this.#dir();
    if (this.#root.readOnly && (openFlags.create || openFlags.truncate || flags.write || flags.mutateDirectory)) {
      throw "read-only";
    }
    if (flags.requestedWriteSync || flags.fileIntegritySync || flags.dataIntegritySync) throw "unsupported";
    if (this.#fs.openFiles >= MAX_OPEN_FILES) throw "insufficient-memory";
    const follow = !!pathFlags.symlinkFollow;
    const p = resolveInRoot(this.#root, this.#host, path, follow);
    if (openFlags.create && !exists(p)) this.#fs.hooks.chargeWrite(ENTRY_COST);
    let mode = flags.write ? (flags.read ? constants.O_RDWR : constants.O_WRONLY) : constants.O_RDONLY;
    if (openFlags.create) mode |= constants.O_CREAT;
    if (openFlags.exclusive) mode |= constants.O_EXCL;
    if (openFlags.truncate) mode |= constants.O_TRUNC;
    if (openFlags.directory) mode |= constants.O_DIRECTORY;
    // The final component was resolved already; refuse a symlink appearing there (no follow).
    mode |= constants.O_NOFOLLOW;
    let fd: number;
    try {
      fd = openSync(p.endsWith("/") ? p.slice(0, -1) : p, mode, 0o644);
    } catch (e) {
      throw code(e);
    }
    trackOpen(this.#fs, fd);
    let st: Stats;
    try {
      st = fstatSync(fd);
    } catch (e) {
      trackClose(this.#fs, fd);
      throw code(e);
    }
    if (st.isDirectory()) {
      trackClose(this.#fs, fd);
      if (flags.write) throw "is-directory";
      return new Descriptor(this.#fs, this.#root, p.replace(/\/$/, ""), null, { ...flags, mutateDirectory: !this.#root.readOnly && !!flags.mutateDirectory }, true);
    }
    if (p.endsWith("/")) {
      trackClose(this.#fs, fd);
      throw "not-directory";
    }
    return new Descriptor(this.#fs, this.#root, p, fd, flags, false);
  }
  readlinkAt(path: string): string {
    try {
      return readlinkSync(this.#at(path));
    } catch (e) {
      throw code(e);
    }
  }
  removeDirectoryAt(path: string): void {
    this.#writable();
    try {
      rmdirSync(this.#at(path));
    } catch (e) {
      throw code(e);
    }
  }
  renameAt(oldPath: string, newDir: Descriptor, newPath: string): void {
    this.#writable();
    if (!(newDir instanceof Descriptor) || newDir.#root.readOnly || newDir.#root.real !== this.#root.real) {
      throw "cross-device";
    }
    try {
      renameSync(this.#at(oldPath), newDir.#at(newPath));
    } catch (e) {
      throw code(e);
    }
  }
  symlinkAt(target: string, path: string): void {
    this.#writable();
    // A link may only point inside its own preopen, so nothing that later follows it on the host
    // (e.g. packing results for the consumers) can be led outside.
    if (target.startsWith("/") || target.includes("\0")) throw "not-permitted";
    const linkDir = posix.dirname(posix.join(posix.relative(this.#root.real, this.#host), path));
    const lexical = posix.normalize(posix.join(linkDir, target));
    if (lexical === ".." || lexical.startsWith("../")) throw "not-permitted";
    this.#fs.hooks.chargeWrite(ENTRY_COST + target.length);
    try {
      symlinkSync(target, this.#at(path));
    } catch (e) {
      throw code(e);
    }
  }
  unlinkFileAt(path: string): void {
    this.#writable();
    const p = this.#at(path);
    try {
      // unlink("x/") names a directory: a directory is refused as one, anything else is not one.
      if (p.endsWith("/")) throw lstatSync(p.slice(0, -1)).isDirectory() ? "is-directory" : "not-directory";
      unlinkSync(p);
    } catch (e) {
      throw code(e);
    }
  }
  #ids(): BigIntStats {
    return this.#stat();
  }
  isSameObject(other: Descriptor): boolean {
    if (!(other instanceof Descriptor)) return false;
    const a = this.#ids();
    const b = other.#ids();
    return a.dev === b.dev && a.ino === b.ino;
  }
  metadataHash() {
    const st = this.#ids();
    return { upper: st.mtimeNs, lower: st.ino };
  }
  metadataHashAt(flags: PathFlags, path: string) {
    const p = this.#at(path, !!flags.symlinkFollow);
    try {
      const st = lstatSync(p, { bigint: true });
      return { upper: st.mtimeNs, lower: st.ino };
    } catch (e) {
      throw code(e);
    }
  }
  [Symbol.dispose](): void {
    if (this.#fd !== null) {
      const fd = this.#fd;
      this.#fd = null;
      trackClose(this.#fs, fd);
    }
  }
}
