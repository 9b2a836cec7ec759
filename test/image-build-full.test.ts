// The full guest flavour (images/flavours/): reproducible bytes, the minimal image unchanged by it,
// Python and Podman with every shared library they need, and its own measurement in image.json.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildImage } from "../images/build.ts";
import { readCpio } from "../images/cpio.ts";
import { FLAVOUR_INIT, PODMAN_CONFIG, PODMAN_SOCKET } from "../images/flavours/full.ts";
import { elfNeeded } from "../images/native-sandbox.ts";
import { measureLaunch, simMeasurement } from "../manager/measurement.ts";
import { buildHelloImage, cleanupTemp, haveDpkg, helloAgent, helloImage, repoRoot, tempDir } from "./support/guest-image.ts";

afterAll(cleanupTemp);

const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
let fullOnce: ReturnType<typeof buildHelloImage> | undefined;
const fullImage = () => (fullOnce ??= buildHelloImage("full"));

describe.skipIf(!haveDpkg)("full flavour image build (needs dpkg-deb and apt-get)", () => {
  test("built twice: identical bytes; its minimal initramfs is the minimal-only build's", async () => {
    const a = await fullImage();
    const b = await buildHelloImage("full");
    for (const f of ["initramfs-full.cpio", "initramfs.cpio", "image.json"]) {
      expect(`${f} ${sha256(readFileSync(join(b.dir, f)))}`).toBe(`${f} ${sha256(readFileSync(join(a.dir, f)))}`);
    }
    const minimal = await helloImage();
    expect(a.manifest.initramfs.cpio.sha256).toBe(minimal.manifest.initramfs.cpio.sha256);
    expect(a.manifest.flavours.minimal).toEqual(minimal.manifest.flavours.minimal!);
  }, 240_000);

  test("holds python3 with venv and pip, Podman with crun, conmon and its config, and the /init hook", async () => {
    const { dir } = await fullImage();
    const entries = readCpio(new Uint8Array(readFileSync(join(dir, "initramfs-full.cpio"))));
    const by = new Map(entries.map((e) => [e.path, e]));
    const text = (p: string) => new TextDecoder().decode(by.get(p)!.data);
    for (const p of ["usr/bin/python3.11", "usr/lib/python3.11/venv/__init__.py", "usr/lib/python3.11/ensurepip/__init__.py", "usr/lib/python3/dist-packages/pip/__init__.py", "usr/bin/podman", "usr/bin/crun", "usr/bin/conmon", "usr/share/containers/seccomp.json", "etc/containers/policy.json"])
      expect(by.has(p), p).toBe(true);
    expect(text("usr/bin/python3")).toBe("python3.11");
    expect(readdirWheels(by)).toEqual(expect.arrayContaining([expect.stringMatching(/^pip-/), expect.stringMatching(/^setuptools-/)]));
    for (const [p, content] of Object.entries(PODMAN_CONFIG)) expect(text(p)).toBe(content);
    expect(text(FLAVOUR_INIT)).toBe(readFileSync(join(repoRoot, "images/flavours/full-init.sh"), "utf8"));
    expect(text(FLAVOUR_INIT)).toContain(`podman_socket=${PODMAN_SOCKET}`);
    expect(text("init")).toContain(`[ -f /${FLAVOUR_INIT} ] && . /${FLAVOUR_INIT}`);
    // No documentation, and nothing of the minimal image replaced.
    expect(entries.some((e) => e.path.startsWith("usr/share/doc/") || e.path.startsWith("usr/share/man/"))).toBe(false);
    expect(Buffer.from(by.get("bin/cocos-agent")!.data).equals(readFileSync(await helloAgent()))).toBe(true);
  }, 240_000);

  test("every ELF file's DT_NEEDED libraries are in the image (resolved, not guessed)", async () => {
    const { dir } = await fullImage();
    const entries = readCpio(new Uint8Array(readFileSync(join(dir, "initramfs-full.cpio"))));
    const paths = new Set(entries.map((e) => e.path));
    const missing: string[] = [];
    let elves = 0;
    for (const e of entries) {
      if ((e.mode & 0o170000) !== 0o100000 || e.data.length < 64 || e.data[0] !== 0x7f || e.data[1] !== 0x45) continue;
      elves++;
      const own = e.path.slice(0, e.path.lastIndexOf("/"));
      for (const so of elfNeeded(e.data)) if (!paths.has(`lib/x86_64-linux-gnu/${so}`) && !paths.has(`${own}/${so}`)) missing.push(`${e.path} → ${so}`);
    }
    expect(elves).toBeGreaterThan(50);
    expect(missing).toEqual([]);
  }, 240_000);

  test("image.json: the full flavour's files, digests, packages and measurement inputs match what was written", async () => {
    const { dir, manifest } = await fullImage();
    const full = manifest.flavours.full!;
    const cpio = readFileSync(join(dir, "initramfs-full.cpio"));
    expect([full.initramfs.cpio.file, full.initramfs.cpio.size, full.initramfs.cpio.sha256]).toEqual(["initramfs-full.cpio", cpio.length, sha256(cpio)]);
    expect(full.initramfs.cpio.sha3_256).toBe(new Bun.CryptoHasher("sha3-256").update(cpio).digest("hex"));
    expect(Object.keys(full.packages)).toEqual(expect.arrayContaining([...Object.keys(manifest.packages), "podman", "crun", "conmon", "python3.11-minimal", "python3-pip"]));
    const mi = full.measurement_inputs;
    expect([mi.initrd, mi.initrd_sha256, mi.kernel_sha256]).toEqual(["initramfs-full.cpio", sha256(cpio), manifest.kernel.vmlinux.sha256]);
    const fromJson = simMeasurement({ kernelSha256: Buffer.from(mi.kernel_sha256, "hex"), initrdSha256: Buffer.from(mi.initrd_sha256, "hex"), cmdline: mi.cmdline });
    const fromFiles = await measureLaunch({ kernel: join(dir, mi.kernel), initrd: join(dir, mi.initrd), cmdline: manifest.cmdline });
    expect(Buffer.from(fromFiles.measurement).toString("hex")).toBe(Buffer.from(fromJson).toString("hex"));
    // The top-level fields stay the minimal flavour's (older readers of image.json).
    expect(manifest.measurement_inputs).toEqual(manifest.flavours.minimal!.measurement_inputs);
    expect(manifest.measurement_inputs.initrd_sha256).not.toBe(mi.initrd_sha256);
  }, 240_000);

  test("a minimal-only build into the same folder removes the full flavour's files (image.json never describes stale ones)", async () => {
    const out = tempDir("cocos-flv-");
    await buildImage({ agent: await helloAgent(), out, compress: false, ort: false, flavour: "full", log: () => {} });
    expect(existsSync(join(out, "initramfs-full.cpio"))).toBe(true);
    const again = await buildImage({ agent: await helloAgent(), out, compress: false, ort: false, log: () => {} });
    expect(existsSync(join(out, "initramfs-full.cpio"))).toBe(false);
    expect(Object.keys(again.flavours)).toEqual(["minimal"]);
  }, 240_000);
});

function readdirWheels(by: Map<string, { path: string }>): string[] {
  return [...by.keys()].filter((p) => p.startsWith("usr/share/python-wheels/")).map((p) => p.slice("usr/share/python-wheels/".length));
}
