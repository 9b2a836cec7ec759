// The native-algorithm sandbox's tools in the guest image: bubblewrap, util-linux's setpriv and
// prlimit (runtime/sandbox), and every shared library they need beyond glibc. The libraries come
// from each binary's own DT_NEEDED entries (read from the ELF file, not from the build machine's
// ldd), resolved through a fixed soname → Debian package table, so the build stays offline and
// byte-reproducible and fails loudly when a new dependency appears.
import { readFileSync, realpathSync } from "node:fs";
import { join, relative } from "node:path";
import type { CpioEntry } from "./cpio.ts";
import { extractDeb, fetchDeb } from "./debian.ts";

export const SANDBOX_TOOLS: readonly { pkg: string; path: string }[] = [
  { pkg: "bubblewrap", path: "usr/bin/bwrap" },
  { pkg: "util-linux", path: "usr/bin/setpriv" },
  { pkg: "util-linux", path: "usr/bin/prlimit" },
];

/** The Debian package holding each shared library the tools need (glibc's come from libc6 already). */
export const LIBRARY_PACKAGES: Readonly<Record<string, string>> = {
  "libselinux.so.1": "libselinux1",
  "libpcre2-8.so.0": "libpcre2-8-0",
  "libcap.so.2": "libcap2",
  "libcap-ng.so.0": "libcap-ng0",
  "libsmartcols.so.1": "libsmartcols1",
  // ONNX Runtime's (images/onnxruntime.ts)
  "libstdc++.so.6": "libstdc++6",
  "libgcc_s.so.1": "libgcc-s1",
  // dmsetup's, for the agent disk's dm-verity device (images/agent-disk.ts)
  "libdevmapper.so.1.02.1": "libdevmapper1.02.1",
  "libudev.so.1": "libudev1",
};

const LIB_DIRS = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"];

/** DT_NEEDED sonames of an ELF64 little-endian file (program headers → PT_DYNAMIC → DT_STRTAB). */
export function elfNeeded(elf: Uint8Array): string[] {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (v.getUint32(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error("expected an ELF64 little-endian file");
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  const loads: { vaddr: number; offset: number; filesz: number }[] = [];
  let dynamic: { offset: number; size: number } | null = null;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    const type = v.getUint32(p, true);
    const offset = Number(v.getBigUint64(p + 8, true));
    const vaddr = Number(v.getBigUint64(p + 16, true));
    const filesz = Number(v.getBigUint64(p + 32, true));
    if (type === 1) loads.push({ vaddr, offset, filesz });
    if (type === 2) dynamic = { offset, size: filesz };
  }
  if (!dynamic) return []; // statically linked
  const needed: number[] = [];
  let strtab = -1;
  for (let o = dynamic.offset; o + 16 <= dynamic.offset + dynamic.size; o += 16) {
    const tag = Number(v.getBigInt64(o, true));
    const val = Number(v.getBigUint64(o + 8, true));
    if (tag === 0) break;
    if (tag === 1) needed.push(val);
    if (tag === 5) strtab = val;
  }
  const seg = loads.find((l) => strtab >= l.vaddr && strtab < l.vaddr + l.filesz);
  if (!seg) throw new Error("DT_STRTAB lies in no PT_LOAD segment");
  const base = seg.offset + (strtab - seg.vaddr);
  return needed.map((off) => {
    const start = base + off;
    const end = elf.indexOf(0, start);
    return new TextDecoder().decode(elf.subarray(start, end));
  });
}

/** A file inside an unpacked package; symlinks are followed only within the package. */
function readInside(root: string, candidates: string[]): Uint8Array | null {
  for (const c of candidates) {
    let real: string;
    try {
      real = realpathSync(join(root, c));
    } catch {
      continue;
    }
    if (relative(root, real).startsWith("..")) throw new Error(`${c} in ${root} points outside the package (${real})`);
    return new Uint8Array(readFileSync(real));
  }
  return null;
}

export interface SandboxFiles {
  entries: CpioEntry[];
  /** package → .deb file name, for image.json */
  packages: Record<string, string>;
}

/** Unpacks Debian packages on first use (fetching them unless offline) and records the .deb of each. */
export function packageRoots(cache: string, offline: boolean): { root: (pkg: string) => string; packages: Record<string, string> } {
  const packages: Record<string, string> = {};
  const roots = new Map<string, string>();
  const root = (pkg: string) => {
    let dir = roots.get(pkg);
    if (!dir) {
      const deb = fetchDeb(cache, pkg, offline);
      packages[pkg] = deb.split("/").pop()!;
      dir = extractDeb(cache, deb);
      roots.set(pkg, dir);
    }
    return dir;
  };
  return { root, packages };
}

/**
 * Cpio entries (lib/x86_64-linux-gnu/<soname>) for the `pending` sonames and, transitively, the ones
 * they need; `done` holds the sonames already in the image (and is extended). `table` maps each
 * soname to its Debian package; an unmapped one is an error, so a new dependency is never guessed.
 */
export function libraryEntries(
  root: (pkg: string) => string,
  pending: string[],
  done: Set<string>,
  table: Readonly<Record<string, string>> = LIBRARY_PACKAGES,
  tableName = "LIBRARY_PACKAGES (images/native-sandbox.ts)",
): CpioEntry[] {
  const entries: CpioEntry[] = [];
  while (pending.length) {
    const soname = pending.shift()!;
    if (done.has(soname)) continue;
    done.add(soname);
    const pkg = table[soname];
    if (!pkg) throw new Error(`the image needs ${soname}, which ${tableName} does not map to a package`);
    const data = readInside(root(pkg), LIB_DIRS.map((d) => `${d}/${soname}`));
    if (!data) throw new Error(`expected ${soname} in package ${pkg}, found none`);
    entries.push({ path: `lib/x86_64-linux-gnu/${soname}`, type: "file", data, mode: 0o755 });
    pending.push(...elfNeeded(data));
  }
  return entries;
}

/** Cpio entries for the tools and their libraries; `provided` are sonames the image already has (glibc);
 *  `alsoNeeded` are sonames other files of the image need (ONNX Runtime's), resolved the same way;
 *  `tools` the binaries (default the sandbox's; the agent-disk layout adds dmsetup). */
export function sandboxFiles(
  cache: string,
  offline: boolean,
  provided: readonly string[],
  alsoNeeded: readonly string[] = [],
  tools: readonly { pkg: string; path: string }[] = SANDBOX_TOOLS,
): SandboxFiles {
  const { root, packages } = packageRoots(cache, offline);
  const entries: CpioEntry[] = [];
  const pending: string[] = [...alsoNeeded];
  for (const tool of tools) {
    const data = readInside(root(tool.pkg), [tool.path]);
    if (!data) throw new Error(`expected ${tool.path} in package ${tool.pkg}, found none`);
    entries.push({ path: tool.path, type: "file", data, mode: 0o755 });
    pending.push(...elfNeeded(data));
  }
  entries.push(...libraryEntries(root, pending, new Set(provided)));
  return { entries, packages };
}
