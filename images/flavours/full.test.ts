// The full flavour's package handling: whole packages without their documentation, and a build
// that stops instead of replacing a file of the minimal image or guessing an unmapped library.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CpioEntry } from "../cpio.ts";
import { libraryEntries, packageRoots } from "../native-sandbox.ts";
import { FULL_LIBRARY_PACKAGES, fullFiles, packageEntries } from "./full.ts";

const haveDpkg = Bun.which("dpkg-deb") !== null && Bun.which("apt-get") !== null;
const cache = join(import.meta.dir, "..", "cache");
const dir = mkdtempSync(join(tmpdir(), "cocos-flvpkg-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("package entries", () => {
  test("files keep their modes, symlinks their targets; documentation and the unpack marker are left out", () => {
    mkdirSync(join(dir, "usr/bin"), { recursive: true });
    mkdirSync(join(dir, "usr/share/doc/pkg"), { recursive: true });
    writeFileSync(join(dir, "usr/bin/tool"), "#!/bin/sh\n");
    chmodSync(join(dir, "usr/bin/tool"), 0o755);
    symlinkSync("tool", join(dir, "usr/bin/tool2"));
    writeFileSync(join(dir, "usr/share/doc/pkg/copyright"), "text");
    writeFileSync(join(dir, ".extracted"), "");
    const got = packageEntries(dir).map((e) => (e.type === "file" ? `${e.path} ${e.mode!.toString(8)}` : e.type === "symlink" ? `${e.path} -> ${e.target}` : `${e.path}/`));
    expect(got).toEqual(["usr/", "usr/bin/", "usr/bin/tool 755", "usr/bin/tool2 -> tool", "usr/share/"]);
  });
});

describe.skipIf(!haveDpkg)("full flavour files (needs dpkg-deb and apt-get)", () => {
  test("a package file that would replace one of the minimal image is refused, naming both", () => {
    const planted: CpioEntry[] = [{ path: "usr/bin/podman", type: "file", data: new TextEncoder().encode("the minimal image's"), mode: 0o755 }];
    expect(() => fullFiles(cache, false, planted)).toThrow("full flavour: podman has usr/bin/podman, which the image already has (a file)");
  }, 120_000);

  test("a library no table entry maps is refused instead of guessed", () => {
    const { root } = packageRoots(cache, false);
    expect(() => libraryEntries(root, ["libnot-in-debian.so.9"], new Set(), FULL_LIBRARY_PACKAGES, "FULL_LIBRARY_PACKAGES (images/flavours/full.ts)")).toThrow(
      "the image needs libnot-in-debian.so.9, which FULL_LIBRARY_PACKAGES (images/flavours/full.ts) does not map to a package",
    );
  });
});
