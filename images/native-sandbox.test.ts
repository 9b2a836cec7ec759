// The guest image carries the native sandbox's tools and every library they load: checked against
// the ELF files themselves and against this machine's ldd (the same Debian release).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GLIBC } from "./build.ts";
import { elfNeeded, sandboxFiles, SANDBOX_TOOLS } from "./native-sandbox.ts";
import { lddSonames } from "./testdata/ldd.ts";

const haveDpkg = Bun.which("dpkg-deb") !== null && Bun.which("apt-get") !== null;
const cache = join(import.meta.dir, "cache");


describe("ELF DT_NEEDED reader", () => {
  test.skipIf(!Bun.which("bwrap"))("reads what ldd resolves first-level for this machine's bwrap", () => {
    const bwrap = Bun.which("bwrap")!;
    const needed = elfNeeded(new Uint8Array(readFileSync(bwrap)));
    expect(needed).toContain("libc.so.6");
    const resolved = lddSonames(bwrap);
    for (const soname of needed) expect(resolved).toContain(soname);
  });

  test("a statically linked file needs nothing; a non-ELF file is refused", () => {
    const busybox = Bun.which("busybox");
    if (busybox && lddSonames(busybox).length === 0) expect(elfNeeded(new Uint8Array(readFileSync(busybox)))).toEqual([]);
    expect(() => elfNeeded(new TextEncoder().encode("#!/bin/sh\n".padEnd(64, " ")))).toThrow("expected an ELF64");
  });
});

describe.skipIf(!haveDpkg)("image sandbox files (needs dpkg-deb and apt-get)", () => {
  test("bwrap, setpriv, prlimit and every library ldd names for them are in the image", () => {
    const { entries, packages } = sandboxFiles(cache, false, GLIBC);
    const paths = entries.map((e) => e.path);
    for (const tool of SANDBOX_TOOLS) expect(paths).toContain(tool.path);
    const inImage = new Set([...paths.map((p) => p.split("/").pop()!), ...GLIBC]);
    for (const tool of SANDBOX_TOOLS) {
      const host = `/${tool.path}`;
      for (const soname of lddSonames(host)) expect(inImage.has(soname), `${soname} (ldd ${host})`).toBe(true);
    }
    expect(Object.keys(packages).sort()).toEqual(["bubblewrap", "libcap-ng0", "libcap2", "libpcre2-8-0", "libselinux1", "libsmartcols1", "util-linux"]);
  }, 120_000);
});
