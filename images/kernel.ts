// Kernel pieces: the uncompressed PVH vmlinux inside Debian's bzImage, and module dependencies
// read from each .ko's .modinfo section (the .deb ships no modules.dep; depmod runs at install).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

/** Extracts the xz-compressed vmlinux ELF from a bzImage (Debian kernels use KERNEL_XZ). */
export function extractVmlinux(bzImage: Uint8Array): Uint8Array {
  const magic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  const at = Buffer.from(bzImage.buffer, bzImage.byteOffset, bzImage.length).indexOf(magic);
  if (at < 0) throw new Error("expected an xz stream (magic FD 37 7A 58 5A 00) inside the bzImage, found none");
  const r = Bun.spawnSync(["xz", "-dc", "--single-stream"], { stdin: bzImage.subarray(at), stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`xz could not decompress the kernel payload: ${r.stderr.toString().trim()}`);
  const elf = new Uint8Array(r.stdout);
  if (elf[0] !== 0x7f || elf[1] !== 0x45 || elf[2] !== 0x4c || elf[3] !== 0x46)
    throw new Error(`expected an ELF vmlinux after decompression, got bytes ${[...elf.subarray(0, 4)].map((b) => b.toString(16)).join(" ")}`);
  return elf;
}

/** Key=value strings of an ELF64 object's .modinfo section. */
export function modinfo(ko: Uint8Array): Map<string, string[]> {
  const v = new DataView(ko.buffer, ko.byteOffset, ko.byteLength);
  if (v.getUint32(0) !== 0x7f454c46 || ko[4] !== 2) throw new Error("expected an ELF64 kernel module");
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const shstrndx = v.getUint16(0x3e, true);
  const sec = (i: number) => {
    const b = shoff + i * shentsize;
    return { name: v.getUint32(b, true), off: Number(v.getBigUint64(b + 0x18, true)), size: Number(v.getBigUint64(b + 0x20, true)) };
  };
  const strtab = sec(shstrndx);
  const dec = new TextDecoder();
  const nameOf = (o: number) => {
    let e = strtab.off + o;
    while (ko[e] !== 0) e++;
    return dec.decode(ko.subarray(strtab.off + o, e));
  };
  const out = new Map<string, string[]>();
  for (let i = 0; i < shnum; i++) {
    const s = sec(i);
    if (nameOf(s.name) !== ".modinfo") continue;
    for (const kv of dec.decode(ko.subarray(s.off, s.off + s.size)).split("\0")) {
      const eq = kv.indexOf("=");
      if (eq > 0) out.set(kv.slice(0, eq), [...(out.get(kv.slice(0, eq)) ?? []), kv.slice(eq + 1)]);
    }
  }
  return out;
}

export interface KernelModule {
  name: string;
  /** Path relative to /lib/modules/<version>/, without a compression suffix. */
  rel: string;
  data: Uint8Array;
}

function decompress(path: string): Uint8Array {
  if (path.endsWith(".ko")) return new Uint8Array(readFileSync(path));
  const tool = path.endsWith(".xz") ? "xz" : path.endsWith(".zst") ? "zstd" : path.endsWith(".gz") ? "gzip" : "";
  if (!tool) throw new Error(`unexpected kernel module suffix: ${path}`);
  const r = Bun.spawnSync([tool, "-dc", path], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${tool} -dc ${path} failed: ${r.stderr.toString().trim()}`);
  return new Uint8Array(r.stdout);
}

function walk(dir: string, acc: string[] = []): string[] {
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, acc);
    else if (/\.ko(\.(xz|zst|gz))?$/.test(e)) acc.push(p);
  }
  return acc;
}

/**
 * The wanted modules plus everything they depend on, in load order (dependencies first).
 * Names in `optional` are skipped when this kernel does not have them (e.g. tsm before 6.7).
 */
export function resolveModules(modDir: string, wanted: string[], optional: string[] = []): { modules: KernelModule[]; missing: string[] } {
  const norm = (n: string) => n.replace(/-/g, "_");
  const files = new Map<string, string>();
  for (const p of walk(join(modDir, "kernel"))) files.set(norm(p.split("/").pop()!.replace(/\.ko(\.\w+)?$/, "")), p);
  const builtin = new Set(
    (() => {
      try {
        return readFileSync(join(modDir, "modules.builtin"), "utf8").split("\n").map((l: string) => norm(l.split("/").pop()!.replace(/\.ko$/, "")));
      } catch {
        return [] as string[];
      }
    })(),
  );
  const order: KernelModule[] = [];
  const seen = new Set<string>();
  const missing: string[] = [];
  const visit = (name: string, chain: string[], isOptional: boolean) => {
    name = norm(name);
    if (seen.has(name)) return;
    const path = files.get(name);
    if (!path) {
      if (builtin.has(name)) return seen.add(name), undefined;
      if (isOptional) return missing.push(name), seen.add(name), undefined;
      throw new Error(`expected kernel module ${name} (needed by ${chain.join(" → ") || "the image"}) under ${modDir}, found none`);
    }
    seen.add(name);
    const data = decompress(path);
    const deps = (modinfo(data).get("depends")?.[0] ?? "").split(",").filter(Boolean).sort();
    for (const d of deps) visit(d, [...chain, name], false);
    order.push({ name, rel: relative(modDir, path).replace(/\.ko\.\w+$/, ".ko"), data });
  };
  for (const w of wanted) visit(w, [], false);
  for (const o of optional) visit(o, [], true);
  return { modules: order, missing };
}
