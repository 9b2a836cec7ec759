// The guest image carries ONNX Runtime next to the agent and every library it loads: checked against
// the ELF files' DT_NEEDED entries and against this machine's ldd (the same Debian release).
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { GLIBC } from "./build.ts";
import { sandboxFiles } from "./native-sandbox.ts";
import { ORT_FILES, ORT_GUEST_DIR, ortFiles } from "./onnxruntime.ts";
import { lddSonames } from "./testdata/ldd.ts";

const haveDpkg = Bun.which("dpkg-deb") !== null && Bun.which("apt-get") !== null;
const cache = join(import.meta.dir, "cache");
const root = resolve(import.meta.dir, "..");
// What `bun run build` copies to dist/onnxruntime, or its source when dist/ is not built.
const ortDir = [join(root, "dist/onnxruntime"), join(root, "node_modules/onnxruntime-node/bin/napi-v6/linux/x64")].find((d) =>
  ORT_FILES.every((f) => existsSync(join(d, f))),
);


describe("ONNX Runtime files", () => {
  test("a folder without the addon is refused with what was expected", () => {
    expect(() => ortFiles(join(root, "images/testdata"))).toThrow("expected onnxruntime_binding.node in");
  });

  test.skipIf(!ortDir)("both files go next to the agent; what they need is named, not what they provide", () => {
    const { entries, needed } = ortFiles(ortDir!);
    expect(entries.map((e) => e.path)).toEqual(ORT_FILES.map((f) => `${ORT_GUEST_DIR}/${f}`));
    expect(ORT_GUEST_DIR).toBe("bin/onnxruntime"); // the agent is bin/cocos-agent; ort.ts looks in onnxruntime/ beside it
    expect(needed).toContain("libstdc++.so.6");
    expect(needed).not.toContain("libonnxruntime.so.1");
  });
});

describe.skipIf(!haveDpkg || !ortDir)("image ONNX Runtime libraries (needs dpkg-deb, apt-get and dist/onnxruntime)", () => {
  test("every library ldd names for the addon and libonnxruntime is in the image", () => {
    const ort = ortFiles(ortDir!);
    const { entries, packages } = sandboxFiles(cache, false, GLIBC, ort.needed);
    const inImage = new Set([...entries, ...ort.entries].map((e) => e.path.split("/").pop()!).concat(GLIBC));
    for (const f of ORT_FILES) for (const soname of lddSonames(join(ortDir!, f))) expect(inImage.has(soname), `${soname} (ldd ${f})`).toBe(true);
    expect(packages).toHaveProperty("libstdc++6");
    expect(packages).toHaveProperty("libgcc-s1");
  }, 120_000);

  test("a library no package is known for fails the build, naming it", () => {
    expect(() => sandboxFiles(cache, false, GLIBC, ["libnot-mapped.so.9"])).toThrow("the image needs libnot-mapped.so.9, which LIBRARY_PACKAGES");
  }, 120_000);
});
