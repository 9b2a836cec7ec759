// Path resolution inside a preopen: every path is walked segment by segment below its root, so
// neither `..` nor a symlink (followed by hand, never by the kernel) can leave it.

import { lstatSync, readlinkSync, type Stats } from "node:fs";
import { posix } from "node:path";
import { code } from "./fs-errors.ts";

const MAX_SYMLINKS = 40;

/** One preopen's host root: the boundary no guest path may leave, and whether it is writable. */
export interface Root {
  real: string;
  readOnly: boolean;
}

/**
 * Resolves `subpath` below `base` (a host path inside `root`) without leaving the root: absolute
 * paths, `..` past the root and symlinks whose target leaves the root are "not-permitted".
 */
export function resolveInRoot(root: Root, base: string, subpath: string, followFinal: boolean): string {
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
