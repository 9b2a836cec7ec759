// Sets file timestamps with nanosecond precision. node:fs's utimes/futimes/lutimes take seconds as
// a double, which cannot hold today's epoch seconds with nine decimals (the guest would read back
// ...789 as ...787), so the calls go to libc's utimensat/futimens through bun:ffi. Where libc
// cannot be loaded (not glibc), the double-based node:fs calls are the fallback.

import { futimesSync, lutimesSync, utimesSync } from "node:fs";

/** A timestamp in ns since the epoch, "now", or null for "leave unchanged". */
export type TimeSpec = bigint | "now" | null;

const UTIME_NOW = (1n << 30n) - 1n;
const UTIME_OMIT = (1n << 30n) - 2n;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

interface Libc {
  utimensat(dirfd: number, path: Uint8Array, times: BigInt64Array, flags: number): number;
  futimens(fd: number, times: BigInt64Array): number;
  errno(): number;
}

let libc: Libc | null | undefined;
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const { dlopen, FFIType, read } = require("bun:ffi") as typeof import("bun:ffi");
    const lib = dlopen("libc.so.6", {
      utimensat: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
      futimens: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
      __errno_location: { args: [], returns: FFIType.ptr },
    });
    libc = {
      utimensat: (d, p, t, f) => lib.symbols.utimensat(d, p, t, f),
      futimens: (fd, t) => lib.symbols.futimens(fd, t),
      errno: () => read.i32(lib.symbols.__errno_location()!, 0),
    };
  } catch {
    libc = null;
  }
  return libc;
}

const ERRNO_NAMES: Record<number, string> = { 1: "EPERM", 2: "ENOENT", 9: "EBADF", 13: "EACCES", 20: "ENOTDIR", 22: "EINVAL", 30: "EROFS", 40: "ELOOP" };

function timespecs(atime: TimeSpec, mtime: TimeSpec): BigInt64Array {
  const one = (t: TimeSpec): [bigint, bigint] =>
    t === null ? [0n, UTIME_OMIT] : t === "now" ? [0n, UTIME_NOW] : [t / 1_000_000_000n, t % 1_000_000_000n];
  return BigInt64Array.from([...one(atime), ...one(mtime)]);
}

function fail(): never {
  const n = libc?.errno() ?? 0;
  throw Object.assign(new Error(`utimensat failed: errno ${n}`), { code: ERRNO_NAMES[n] ?? "EIO" });
}

/** Seconds as node:fs wants them, for the fallback (`current` fills "unchanged"). */
function seconds(t: TimeSpec, currentNs: bigint): number {
  if (t === "now") return Date.now() / 1000;
  return Number(t ?? currentNs) / 1e9;
}

export function setFileTimes(fd: number, atime: TimeSpec, mtime: TimeSpec, current: { atimeNs: bigint; mtimeNs: bigint }): void {
  const c = loadLibc();
  if (!c) return futimesSync(fd, seconds(atime, current.atimeNs), seconds(mtime, current.mtimeNs));
  if (c.futimens(fd, timespecs(atime, mtime)) !== 0) fail();
}

/** `path` is a host path already resolved inside its preopen; `follow` = stamp a symlink's target. */
export function setPathTimes(
  path: string,
  follow: boolean,
  atime: TimeSpec,
  mtime: TimeSpec,
  current: { atimeNs: bigint; mtimeNs: bigint },
): void {
  const c = loadLibc();
  if (!c) {
    const fn = follow ? utimesSync : lutimesSync;
    return fn(path, seconds(atime, current.atimeNs), seconds(mtime, current.mtimeNs));
  }
  const cpath = new TextEncoder().encode(`${path}\0`);
  if (c.utimensat(AT_FDCWD, cpath, timespecs(atime, mtime), follow ? 0 : AT_SYMLINK_NOFOLLOW) !== 0) fail();
}
