// The guest's wasi:filesystem, implemented on synchronous node:fs inside the run Worker.
// preview2-shim's filesystem has no read-only preopens and no write accounting, so the runtime
// brings its own: every path is resolved segment by segment inside its preopen (`..` and symlinks
// may not leave it), read-only preopens refuse every mutating call, and every byte written to a
// writable preopen is charged to the results budget before it reaches the disk.

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
  realpathSync,
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

export interface PreopenSpec {
  /** Name the guest sees, e.g. "/datasets" or ".". */
  guestPath: string;
  hostPath: string;
  readOnly: boolean;
}

/** The wasi:io stream classes the generated bindings check with instanceof, and a ready pollable. */
export interface StreamClasses {
  InputStream: new () => object;
  OutputStream: new () => object;
  IoError: new (payload: unknown) => Error;
  readyPollable: () => object;
}

export interface FsHooks {
  /** Called before `bytes` are written to a writable preopen; throws to end the run. */
  chargeWrite(bytes: number): void;
  /** Track open host fds so the parent can close them if the Worker is terminated. */
  fdOpened(fd: number): void;
  fdClosed(fd: number): void;
}

type ErrorCode = string;
const MAX_SYMLINKS = 40;
const MAX_OPEN_FILES = 1024;
const STREAM_BUDGET = 1n << 20n;
/** Charged per directory entry a guest creates, so a flood of empty files also meets the cap. */
export const ENTRY_COST = 512;

const ERRNO: Record<string, ErrorCode> = {
  EACCES: "access", EAGAIN: "would-block", EALREADY: "already", EBADF: "bad-descriptor", EBUSY: "busy",
  EDEADLK: "deadlock", EDQUOT: "quota", EEXIST: "exist", EFBIG: "file-too-large", EILSEQ: "illegal-byte-sequence",
  EINPROGRESS: "in-progress", EINTR: "interrupted", EINVAL: "invalid", EIO: "io", EISDIR: "is-directory",
  ELOOP: "loop", EMLINK: "too-many-links", EMSGSIZE: "message-size", ENAMETOOLONG: "name-too-long",
  ENODEV: "no-device", ENOENT: "no-entry", ENOLCK: "no-lock", ENOMEM: "insufficient-memory",
  ENOSPC: "insufficient-space", ENOTDIR: "not-directory", ENOTEMPTY: "not-empty", ENOTSUP: "unsupported",
  EOPNOTSUPP: "unsupported", ENOTTY: "no-tty", ENXIO: "no-such-device", EOVERFLOW: "overflow",
  EPERM: "not-permitted", EPIPE: "pipe", EROFS: "read-only", ESPIPE: "invalid-seek", ETXTBSY: "text-file-busy",
  EXDEV: "cross-device", EMFILE: "insufficient-memory", ENFILE: "insufficient-memory",
};

/** Maps a node:fs error to a wasi:filesystem error-code string (thrown as the result's err payload). */
function code(e: unknown): ErrorCode {
  if (typeof e === "string") return e;
  const c = (e as { code?: string } | null)?.code;
  return (c && ERRNO[c]) || "io";
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

/** One preopen's host root: the boundary no guest path may leave, and whether it is writable. */
interface Root {
  real: string;
  readOnly: boolean;
}

export function createSandboxFilesystem(preopens: PreopenSpec[], io: StreamClasses, hooks: FsHooks) {
  let openFiles = 0;

  function trackOpen(fd: number): void {
    openFiles++;
    hooks.fdOpened(fd);
  }
  function trackClose(fd: number): void {
    openFiles--;
    hooks.fdClosed(fd);
    try {
      closeSync(fd);
    } catch {
      // already closed by the OS on error paths; nothing to release
    }
  }
  function streamError(e: unknown): never {
    throw { tag: "last-operation-failed", val: new io.IoError(code(e)) };
  }

  /**
   * Resolves `subpath` below `base` (a host path inside `root`) without leaving the root: absolute
   * paths, `..` past the root and symlinks whose target leaves the root are "not-permitted".
   */
  function resolve(root: Root, base: string, subpath: string, followFinal: boolean): string {
    if (subpath.includes("\0")) throw "invalid";
    if (subpath.startsWith("/")) throw "not-permitted";
    const trailingSlash = subpath.endsWith("/");
    // The base directory's own path is walked again too: the guest may have replaced one of its
    // components by a symlink since it was opened, and the kernel must never expand one for us.
    const rel = posix.relative(root.real, base);
    const stack: string[] = [];
    let pending = [...(rel === "" ? [] : rel.split("/")), ...subpath.split("/")].filter((s) => s !== "" && s !== ".");
    let links = 0;
    while (pending.length > 0) {
      const seg = pending.shift()!;
      if (seg === "..") {
        if (stack.pop() === undefined) throw "not-permitted";
        continue;
      }
      const candidate = posix.join(root.real, ...stack, seg);
      let st: Stats;
      try {
        st = lstatSync(candidate);
      } catch (e) {
        if (code(e) === "no-entry") {
          // The rest does not exist yet (create); it can contain no symlink, only `..` to re-check.
          if (pending.includes("..")) throw "no-entry";
          return posix.join(candidate, ...pending) + (trailingSlash ? "/" : "");
        }
        throw code(e);
      }
      const isFinal = pending.length === 0;
      if (!st.isSymbolicLink() || (isFinal && !followFinal && !trailingSlash)) {
        stack.push(seg);
        continue;
      }
      if (++links > MAX_SYMLINKS) throw "loop";
      const target = readlinkSync(candidate);
      if (target.startsWith("/")) throw "not-permitted";
      pending = [...target.split("/").filter((s) => s !== "" && s !== "."), ...pending];
    }
    const out = posix.join(root.real, ...stack);
    return trailingSlash && stack.length > 0 ? out + "/" : out;
  }

  class InputStream extends io.InputStream {
    #fd: number;
    #pos: number;
    #owner: Descriptor;
    constructor(owner: Descriptor, fd: number, pos: number) {
      super();
      this.#owner = owner;
      this.#fd = fd;
      this.#pos = pos;
    }
    read(len: bigint): Uint8Array {
      const n = Number(len > STREAM_BUDGET ? STREAM_BUDGET : len);
      const buf = new Uint8Array(n);
      let got: number;
      try {
        got = readSync(this.#fd, buf, 0, n, this.#pos);
      } catch (e) {
        streamError(e);
      }
      if (got === 0 && n > 0) throw { tag: "closed" };
      this.#pos += got;
      return buf.subarray(0, got);
    }
    blockingRead(len: bigint): Uint8Array {
      return this.read(len);
    }
    skip(len: bigint): bigint {
      return BigInt(this.read(len).length);
    }
    blockingSkip(len: bigint): bigint {
      return this.skip(len);
    }
    subscribe(): object {
      void this.#owner;
      return io.readyPollable();
    }
    [Symbol.dispose](): void {}
  }

  class OutputStream extends io.OutputStream {
    #fd: number;
    #pos: number | "append";
    #owner: Descriptor;
    constructor(owner: Descriptor, fd: number, pos: number | "append") {
      super();
      this.#owner = owner;
      this.#fd = fd;
      this.#pos = pos;
    }
    checkWrite(): bigint {
      return STREAM_BUDGET;
    }
    write(buf: Uint8Array): void {
      hooks.chargeWrite(buf.length);
      try {
        const pos = this.#pos === "append" ? fstatSync(this.#fd).size : this.#pos;
        let done = 0;
        while (done < buf.length) done += writeSync(this.#fd, buf, done, buf.length - done, pos + done);
        if (this.#pos !== "append") this.#pos += done;
      } catch (e) {
        streamError(e);
      }
    }
    blockingWriteAndFlush(buf: Uint8Array): void {
      this.write(buf);
    }
    flush(): void {}
    blockingFlush(): void {}
    writeZeroes(len: bigint): void {
      this.write(new Uint8Array(Number(len > STREAM_BUDGET ? STREAM_BUDGET : len)));
    }
    blockingWriteZeroesAndFlush(len: bigint): void {
      this.writeZeroes(len);
    }
    splice(src: { read(len: bigint): Uint8Array }, len: bigint): bigint {
      const chunk = src.read(len);
      this.write(chunk);
      return BigInt(chunk.length);
    }
    blockingSplice(src: { read(len: bigint): Uint8Array }, len: bigint): bigint {
      return this.splice(src, len);
    }
    subscribe(): object {
      void this.#owner;
      return io.readyPollable();
    }
    [Symbol.dispose](): void {}
  }

  class DirectoryEntryStream {
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

  class Descriptor {
    #root: Root;
    #host: string;
    #fd: number | null;
    #flags: DescriptorFlags;
    #isDir: boolean;

    constructor(root: Root, host: string, fd: number | null, flags: DescriptorFlags, isDir: boolean) {
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
      return resolve(this.#root, this.#host, path, follow);
    }
    /** This directory's host path, re-validated (see resolve). */
    #self(): string {
      return resolve(this.#root, this.#host, ".", true);
    }

    readViaStream(offset: bigint) {
      const fd = this.#file();
      if (!this.#flags.read) throw "bad-descriptor";
      return new InputStream(this, fd, Number(offset));
    }
    writeViaStream(offset: bigint) {
      const fd = this.#file();
      if (!this.#flags.write || this.#root.readOnly) throw "bad-descriptor";
      return new OutputStream(this, fd, Number(offset));
    }
    appendViaStream() {
      const fd = this.#file();
      if (!this.#flags.write || this.#root.readOnly) throw "bad-descriptor";
      return new OutputStream(this, fd, "append");
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
        if (Number(size) > current) hooks.chargeWrite(Number(size) - current);
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
        else setPathTimes(this.#self(), true, timeSpec(atime), timeSpec(mtime), st);
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
      hooks.chargeWrite(buffer.length);
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
      hooks.chargeWrite(ENTRY_COST);
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
      hooks.chargeWrite(ENTRY_COST);
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
      if (openFiles >= MAX_OPEN_FILES) throw "insufficient-memory";
      const follow = !!pathFlags.symlinkFollow;
      const p = resolve(this.#root, this.#host, path, follow);
      if (openFlags.create && !exists(p)) hooks.chargeWrite(ENTRY_COST);
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
      trackOpen(fd);
      let st: Stats;
      try {
        st = fstatSync(fd);
      } catch (e) {
        trackClose(fd);
        throw code(e);
      }
      if (st.isDirectory()) {
        trackClose(fd);
        if (flags.write) throw "is-directory";
        return new Descriptor(this.#root, p.replace(/\/$/, ""), null, { ...flags, mutateDirectory: !this.#root.readOnly && !!flags.mutateDirectory }, true);
      }
      if (p.endsWith("/")) {
        trackClose(fd);
        throw "not-directory";
      }
      return new Descriptor(this.#root, p, fd, flags, false);
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
      hooks.chargeWrite(ENTRY_COST + target.length);
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
        trackClose(fd);
      }
    }
  }

  if (process.env.COCOS_WASI_TRACE === "1") {
    for (const cls of [Descriptor, InputStream, OutputStream, DirectoryEntryStream]) traceMethods(cls.prototype as unknown as Record<string, unknown>);
  }

  const entries: [Descriptor, string][] = preopens.map((p) => {
    let real: string;
    try {
      real = realpathSync(p.hostPath);
    } catch (e) {
      throw new Error(`preopen ${p.guestPath}: host directory ${p.hostPath} is not accessible (${code(e)})`);
    }
    if (!statSync(real).isDirectory()) {
      throw new Error(`preopen ${p.guestPath}: expected a directory, got a file at ${p.hostPath}`);
    }
    const root: Root = { real, readOnly: p.readOnly };
    return [new Descriptor(root, real, null, { read: true, mutateDirectory: !p.readOnly }, true), p.guestPath];
  });

  return {
    types: {
      Descriptor,
      DirectoryEntryStream,
      filesystemErrorCode(err: { payload?: unknown }): ErrorCode | undefined {
        return typeof err?.payload === "string" ? err.payload : undefined;
      },
    },
    preopens: {
      getDirectories: () => [...entries],
    },
  };
}

/** Debug aid (COCOS_WASI_TRACE=1): logs every filesystem call of the guest to the host's stderr. */
export function traceMethods(proto: Record<string, unknown>): void {
  for (const name of Object.getOwnPropertyNames(proto)) {
    const fn = proto[name];
    if (name === "constructor" || typeof fn !== "function") continue;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      const show = (v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x)));
      try {
        const r = (fn as (...a: unknown[]) => unknown).apply(this, args);
        process.stderr.write(`wasi ${name}(${args.map(show).join(", ")}) -> ${show(r)}\n`);
        return r;
      } catch (e) {
        process.stderr.write(`wasi ${name}(${args.map(show).join(", ")}) !! ${e instanceof Error ? e.message : show(e)}\n`);
        throw e;
      }
    };
  }
}
