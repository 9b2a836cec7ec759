// Guest image: reproducible bytes, expected contents, and measurement inputs the manager agrees with.
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildImage, DEFAULT_CMDLINE } from "../images/build.ts";
import { AGENT_DISK_MOUNT, VERITY_BLOCK, verityCmdline, verityTree } from "../images/agent-disk.ts";
import { cpioModes, readCpio } from "../images/cpio.ts";
import { measureLaunch, simMeasurement } from "../manager/measurement.ts";
import { ORT_FILES, ORT_GUEST_DIR } from "../images/onnxruntime.ts";
import { ORT_ADDON, ORT_LIBRARY } from "../runtime/nn/ort.ts";
import { buildHelloImage, cleanupTemp, haveDpkg, helloAgent, helloImage, ortSource, repoRoot, tempDir } from "./support/guest-image.ts";

afterAll(cleanupTemp);

describe.skipIf(!haveDpkg)("guest image build (needs dpkg-deb and apt-get)", () => {
  test("two builds give identical bytes", async () => {
    const a = await helloImage();
    const b = await buildHelloImage();
    for (const f of ["vmlinux", "bzImage", "initramfs.cpio", "initramfs-busybox.cpio", "initramfs-disk.cpio", "agent.disk", "image.json"]) {
      const ha = new Bun.CryptoHasher("sha256").update(readFileSync(join(a.dir, f))).digest("hex");
      const hb = new Bun.CryptoHasher("sha256").update(readFileSync(join(b.dir, f))).digest("hex");
      expect(`${f} ${hb}`).toBe(`${f} ${ha}`);
    }
    expect(a.manifest.initramfs.cpio.sha256).toBe(b.manifest.initramfs.cpio.sha256);
  }, 240_000);

  test("initramfs holds init, busybox, glibc, modules in load order and the un-stripped agent", async () => {
    const { dir, manifest } = await helloImage();
    const entries = readCpio(new Uint8Array(readFileSync(join(dir, "initramfs.cpio"))));
    const by = new Map(entries.map((e) => [e.path, e]));
    expect(Buffer.from(by.get("init")!.data).equals(readFileSync(join(repoRoot, "images/init.sh")))).toBe(true);
    expect(by.get("init")!.mode).toBe(cpioModes.S_IFREG | 0o755);
    expect(by.get("dev/console")!.mode & 0o170000).toBe(cpioModes.S_IFCHR);
    expect(Buffer.from(by.get("bin/cocos-agent")!.data).equals(readFileSync(await helloAgent()))).toBe(true);
    expect(new TextDecoder().decode(by.get("bin/sh")!.data)).toBe("/bin/busybox");
    for (const lib of ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "ld-linux-x86-64.so.2"]) expect(by.has(`lib/x86_64-linux-gnu/${lib}`)).toBe(true);
    expect(new TextDecoder().decode(by.get("lib64/ld-linux-x86-64.so.2")!.data)).toBe("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    for (const e of entries) expect([e.path, e.uid, e.gid, e.mtime]).toEqual([e.path, 0, 0, 0]);

    const order = new TextDecoder().decode(by.get("etc/cocos/modules")!.data).trim().split("\n");
    for (const m of order) expect(by.has(`lib/modules/${m}`)).toBe(true);
    const pos = (name: string) => order.findIndex((m) => m.endsWith(`/${name}.ko`));
    for (const [dep, mod] of [["virtio_ring", "virtio_pci"], ["virtio", "virtio_console"], ["net_failover", "virtio_net"], ["vsock", "vmw_vsock_virtio_transport"]])
      expect(pos(dep)).toBeLessThan(pos(mod));
    expect(pos("sev-guest")).toBeGreaterThanOrEqual(0);
    expect(manifest.modules).toContain("vmw_vsock_virtio_transport");

    const vmlinux = readFileSync(join(dir, "vmlinux"));
    expect([...vmlinux.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]);
    expect(manifest.kernel.vmlinux.size).toBe(vmlinux.length);
    expect(manifest.agent.sha3_256).toBe(new Bun.CryptoHasher("sha3-256").update(readFileSync(await helloAgent())).digest("hex"));

    // wasi-nn: ONNX Runtime in onnxruntime/ beside the agent (runtime/nn/ort.ts), listed in image.json.
    expect([...ORT_FILES]).toEqual([ORT_ADDON, ORT_LIBRARY]);
    for (const f of ORT_FILES) expect(Buffer.from(by.get(`${ORT_GUEST_DIR}/${f}`)!.data).equals(readFileSync(join(ortSource, f)))).toBe(true);
    expect(manifest.onnxruntime!.map((d) => d.file)).toEqual(ORT_FILES.map((f) => `${ORT_GUEST_DIR}/${f}`));
    for (const lib of ["libstdc++.so.6", "libgcc_s.so.1", "librt.so.1"]) expect(by.has(`lib/x86_64-linux-gnu/${lib}`), lib).toBe(true);
    expect(Object.keys(manifest.packages)).toEqual(expect.arrayContaining(["libstdc++6", "libgcc-s1"]));
  }, 240_000);

  test("agent-disk layout: a small initramfs with dmsetup and the disk modules, the agent only on the disk, whose verity root hash image.json records", async () => {
    const { dir, manifest } = await helloImage();
    const d = manifest.agent_disk;
    const entries = readCpio(new Uint8Array(readFileSync(join(dir, d.initramfs.file))));
    const by = new Map(entries.map((e) => [e.path, e]));
    expect(by.get("bin/cocos-agent")!.mode & 0o170000).toBe(cpioModes.S_IFLNK);
    expect(new TextDecoder().decode(by.get("bin/cocos-agent")!.data)).toBe(`${AGENT_DISK_MOUNT}/cocos-agent`);
    expect(new TextDecoder().decode(by.get(ORT_GUEST_DIR)!.data)).toBe(`${AGENT_DISK_MOUNT}/onnxruntime`);
    for (const f of ["sbin/dmsetup", "lib/x86_64-linux-gnu/libdevmapper.so.1.02.1", "lib/x86_64-linux-gnu/libudev.so.1", "usr/bin/bwrap"]) expect(by.has(f), f).toBe(true);
    const order = new TextDecoder().decode(by.get("etc/cocos/modules")!.data).trim().split("\n");
    const pos = (name: string) => order.findIndex((m) => m.endsWith(`/${name}.ko`));
    for (const [dep, mod] of [["virtio_pci", "virtio_blk"], ["dm-mod", "dm-verity"], ["blake2b_generic", "dm-verity"], ["crc32c_generic", "erofs"]]) {
      expect(pos(dep), dep).toBeGreaterThanOrEqual(0);
      expect(pos(dep)).toBeLessThan(pos(mod));
    }
    expect(d.initramfs.size * 5).toBeLessThan(manifest.initramfs.cpio.size);

    // The disk: erofs, then the tree; the root hash image.json (and the command line) carry is the tree's over the disk's bytes.
    const disk = new Uint8Array(readFileSync(join(dir, d.disk.file)));
    expect([d.disk.size, d.disk.sha256]).toEqual([disk.length, new Bun.CryptoHasher("sha256").update(disk).digest("hex")]);
    const fs = disk.subarray(0, d.verity.data_blocks * VERITY_BLOCK);
    expect([...fs.subarray(1024, 1028)]).toEqual([0xe2, 0xe1, 0xf5, 0xe0]); // EROFS_SUPER_MAGIC_V1, little-endian
    const { tree, root } = verityTree(fs, Buffer.from(d.verity.salt, "hex"));
    expect(root).toBe(d.verity.root_hash);
    expect(Buffer.from(disk.subarray(d.verity.hash_start_block * VERITY_BLOCK)).equals(Buffer.from(tree))).toBe(true);
    expect(d.cmdline).toBe(`${manifest.cmdline} ${verityCmdline(d.verity)}`);
    // Not the default layout: the measurement inputs describe the initramfs one.
    expect([manifest.layout, manifest.measurement_inputs.disk]).toEqual(["initramfs", undefined]);
  }, 240_000);

  test("--layout disk: image.json's command line and measurement inputs are the disk layout's", async () => {
    const manifest = await buildImage({ agent: await helloAgent(), out: tempDir("cocos-diskl-"), compress: false, ort: false, layout: "disk", log: () => {} });
    const mi = manifest.measurement_inputs;
    const d = manifest.agent_disk;
    expect([manifest.layout, manifest.cmdline, mi.cmdline]).toEqual(["disk", d.cmdline, d.cmdline]);
    expect(d.cmdline).toBe(`${DEFAULT_CMDLINE} ${verityCmdline(d.verity)}`);
    expect([mi.initrd, mi.initrd_sha256, mi.disk, mi.disk_sha256]).toEqual(["initramfs-disk.cpio", d.initramfs.sha256, "agent.disk", d.disk.sha256]);
  }, 240_000);

  test("--no-nn leaves ONNX Runtime out", async () => {
    const manifest = await buildImage({ agent: await helloAgent(), out: tempDir("cocos-nonn-"), compress: false, ort: false, log: () => {} });
    expect(manifest.onnxruntime).toBeUndefined();
    expect(manifest.packages).not.toHaveProperty("libstdc++6");
  }, 240_000);

  test("image.json measurement inputs give the measurement the manager computes from the files", async () => {
    const { dir, manifest } = await helloImage();
    const mi = manifest.measurement_inputs;
    const fromJson = simMeasurement({ kernelSha256: Buffer.from(mi.kernel_sha256, "hex"), initrdSha256: Buffer.from(mi.initrd_sha256, "hex"), cmdline: mi.cmdline });
    const fromFiles = await measureLaunch({ kernel: join(dir, mi.kernel), initrd: join(dir, mi.initrd), cmdline: manifest.cmdline });
    expect(Buffer.from(fromFiles.measurement).toString("hex")).toBe(Buffer.from(fromJson).toString("hex"));
  }, 240_000);

  test("Buildroot tree: same /init source, and every kernel option it needs is in Debian's kernel", async () => {
    await helloImage();
    const post = readFileSync(join(repoRoot, "images/buildroot/board/cocos/post-build.sh"), "utf8");
    expect(post).toContain('"$BR2_EXTERNAL_COCOS_BUN_PATH/../init.sh" "$TARGET_DIR/init"');
    expect(readFileSync(join(repoRoot, "images/buildroot/configs/cocos_bun_defconfig"), "utf8")).toContain('BR2_STRIP_EXCLUDE_FILES="cocos-agent"');
    const cacheRoot = join(repoRoot, "images/cache/root");
    const kdir = readdirSync(cacheRoot).find((d) => d.startsWith("linux-image-") && !d.startsWith("linux-image-amd64"))!;
    const bootDir = join(cacheRoot, kdir, "boot");
    const debian = readFileSync(join(bootDir, readdirSync(bootDir).find((f) => f.startsWith("config-"))!), "utf8");
    let newer = false;
    const missing: string[] = [];
    for (const line of readFileSync(join(repoRoot, "images/buildroot/board/cocos/linux.fragment"), "utf8").split("\n")) {
      if (line.startsWith("#")) newer = /newer than Debian/.test(line) || (newer && !line.trim());
      const m = /^(CONFIG_\w+)=y/.exec(line);
      if (!m) continue;
      if (!new RegExp(`^${m[1]}=[ym]$`, "m").test(debian) && !newer) missing.push(m[1]!);
      newer = false;
    }
    expect(missing).toEqual([]);
  }, 240_000);

  test("a missing agent binary is a clear error", async () => {
    const missing = join(tempDir("cocos-noagent-"), "cocos-agent");
    await expect(buildImage({ agent: missing, out: tempDir("cocos-out-"), compress: false, log: () => {} })).rejects.toThrow(`expected the compiled agent at ${missing}`);
  });
});
