// Files the CLI writes on the party's machine (keys, results). Nothing is ever written through a
// symlink or over an existing file by accident: bytes go to a fresh, exclusively created temporary
// file next to the target, which is then linked into place (fails if the target exists) or, with
// --force, renamed over it (rename replaces a symlink, it does not follow it).
import { randomBytes } from "node:crypto";
import { closeSync, constants, fchmodSync, fsyncSync, linkSync, lstatSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { CliError } from "./errors.ts";

/** Opens a new file for writing; fails if anything (a file, a symlink) already has that name. */
export function createExclusive(path: string, mode: number): number {
  try {
    const fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, mode);
    fchmodSync(fd, mode); // exact mode, whatever the umask
    return fd;
  } catch (e) {
    throw new CliError(`could not create ${path}: ${(e as Error).message}`);
  }
}

/** A hidden, unguessable temporary name in the target's directory (same filesystem: rename is atomic). */
export function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(8).toString("hex")}.part`);
}

/** True when something (a file, a directory, a dangling symlink) has this name. */
export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Refuses before any work is done, so a user does not lose an existing file to a typo. */
export function refuseExisting(path: string, force: boolean, what: string): void {
  if (force || !exists(path)) return;
  throw new CliError(`${what} ${path} already exists; not replacing it (pass --force to replace it)`);
}

/** Moves the finished temporary file to `path`: never over an existing name unless `force`. */
export function publish(tmp: string, path: string, force: boolean, what: string): void {
  try {
    if (force) renameSync(tmp, path);
    else {
      linkSync(tmp, path); // atomic "create if absent" for a complete file
      rmSync(tmp, { force: true });
    }
  } catch (e) {
    rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new CliError(`${what} ${path} already exists; not replacing it (pass --force to replace it)`);
    throw new CliError(`could not save ${what} ${path}: ${(e as Error).message}`);
  }
}

/** Writes a whole small file (a key) the safe way. */
export function writeNewFile(path: string, data: string | Uint8Array, mode: number, force: boolean, what: string): void {
  const tmp = temporaryPathFor(path);
  const fd = createExclusive(tmp, mode);
  try {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(fd, bytes, off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw new CliError(`could not write ${what} ${path}: ${(e as Error).message}`);
  }
  closeSync(fd);
  publish(tmp, path, force, what);
}

/** The first `max` bytes of a file (evidence headers: report data, quote body). */
export function readHead(path: string, max: number): Uint8Array {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const b = new Uint8Array(max);
    return b.subarray(0, readSync(fd, b, 0, max, 0));
  } finally {
    closeSync(fd);
  }
}
