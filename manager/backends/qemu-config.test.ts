import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_CMDLINE, KERNEL_CMDLINE_MAX, agentEnvToCmdline, buildQemuArgs, checkArgv, checkKernelCmdline, kvmUsable, loadQemuConfig, type VmLaunch } from "./qemu-config.ts";
import { FLAVOUR_INITRD, IMAGE_FLAVOURS } from "./qemu-config.ts";
import { QemuBackend } from "./qemu.ts";
import { DEFAULT_CMDLINE as IMAGE_CMDLINE } from "../../images/build.ts";
import { FLAVOURS, initrdName } from "../../images/flavours/index.ts";

const noProbe = { kvm: () => false, vhostVsock: () => false };
const launch = (over: Partial<VmLaunch> = {}): VmLaunch => ({
  uuid: "u1",
  hostPort: 6100,
  cmdline: "console=ttyS0 cocos.log_level=info",
  serialLog: "/w/console.log",
  qmpSocket: "/w/qmp.sock",
  sockets: { manifest: "/w/manifest.sock", events: "/w/events.sock" },
  hostDataB64: Buffer.alloc(32, 1).toString("base64"),
  ...over,
});
const after = (args: string[], flag: string) => args.filter((_, i) => args[i - 1] === flag);

describe("QEMU configuration", () => {
  test("direct kernel boot uses qboot when installed; MANAGER_QEMU_BIOS=seabios or a file; OVMF boots never get it", () => {
    const withQboot = { ...noProbe, qboot: () => "/usr/share/qemu/qboot.rom" };
    const c = loadQemuConfig({}, "/repo", withQboot);
    expect(after(buildQemuArgs(c, launch()), "-bios")).toEqual(["/usr/share/qemu/qboot.rom"]);
    expect(after(buildQemuArgs(loadQemuConfig({ MANAGER_QEMU_BIOS: "seabios" }, "/repo", withQboot), launch()), "-bios")).toEqual([]);
    expect(loadQemuConfig({ MANAGER_QEMU_BIOS: "fw/bios.bin" }, "/repo", withQboot).bios).toBe("/repo/fw/bios.bin");
    expect(loadQemuConfig({}, "/repo", noProbe).bios).toBe("");
    const ovmf = loadQemuConfig({ MANAGER_QEMU_FIRMWARE: "ovmf" }, "/repo", withQboot);
    expect(after(buildQemuArgs(ovmf, launch()), "-bios")).toEqual([]);
    const snp = loadQemuConfig({ MANAGER_QEMU_ENABLE_SEV_SNP: "true" }, "/repo", withQboot);
    expect(after(buildQemuArgs(snp, launch()), "-bios")).toEqual(["/usr/share/OVMF/OVMF_CODE.fd"]);
  });

  test("the fallback kernel command line is the image builder's, with the TCG boot options", () => {
    expect(DEFAULT_CMDLINE).toBe(IMAGE_CMDLINE);
    for (const opt of ["quiet", "tsc=reliable", "no_timer_check", "cryptomgr.notests", "i8042.noaux", "initcall_blacklist=init_blk_tracer"]) expect(DEFAULT_CMDLINE.split(" ")).toContain(opt);
    expect(loadQemuConfig({ MANAGER_QEMU_DISK_IMG_KERNEL_FILE: "/nonexistent/vmlinux" }, "/repo", noProbe).kernelCmdline).toBe(DEFAULT_CMDLINE);
  });

  test("defaults: original names and values, TCG with -cpu max when KVM cannot run guests", () => {
    const c = loadQemuConfig({}, "/repo", noProbe);
    expect(c.accel).toBe("tcg");
    expect(c.cpu).toBe("max");
    expect([c.machine, c.memorySize, c.memorySlots, c.maxMemory]).toEqual(["q35", "2048M", 5, "30G"]);
    // TCG: no more vCPUs than host cores and no hot-pluggable spares; KVM keeps the original 4/64.
    expect(c.smpCount).toBeLessThanOrEqual(4);
    expect(c.smpMaxCpus).toBe(c.smpCount);
    const k = loadQemuConfig({ MANAGER_QEMU_ENABLE_KVM: "true" }, "/repo", noProbe);
    expect([k.smpCount, k.smpMaxCpus]).toEqual([4, 64]);
    expect(c.hostFwdRange).toEqual([6100, 6200]);
    expect(c.guestFwdAgent).toBe(7002);
    expect(c.channel).toBe("virtio-serial");
    expect(c.kernelFile).toBe("/repo/images/out/vmlinux");
    expect(c.initrdFile).toBe("/repo/images/out/initramfs.cpio");
    expect([c.sevCbitPos, c.sevReducedPhysBits, c.vsockGuestCid]).toEqual([51, 1, 3]);
    expect(c.monitor).toBe("none");
  });

  test("auto-detection picks KVM + EPYC and vsock when the host has them", () => {
    const c = loadQemuConfig({}, "/repo", { kvm: () => true, vhostVsock: () => true });
    expect([c.accel, c.cpu, c.channel]).toEqual(["kvm", "EPYC", "vsock"]);
    expect(loadQemuConfig({ MANAGER_QEMU_ENABLE_KVM: "false" }, "/repo", { kvm: () => true, vhostVsock: () => true }).accel).toBe("tcg");
  });

  test("kvmUsable needs /dev/kvm and a vmx/svm CPU flag", () => {
    expect(kvmUsable("flags\t\t: fpu sse2 avx2 hypervisor\n", "/dev/null")).toBe(false);
    expect(kvmUsable("flags\t\t: fpu svm avx2\n", "/dev/null")).toBe(true);
    expect(kvmUsable("flags\t\t: fpu vmx\n", "/nonexistent/kvm")).toBe(false);
  });

  test("MANAGER_QEMU_IMAGE_FLAVOUR picks that flavour's initramfs (the image builder's names); an explicit file wins", () => {
    expect(IMAGE_FLAVOURS).toEqual([...FLAVOURS]);
    for (const f of IMAGE_FLAVOURS) expect(FLAVOUR_INITRD[f]).toBe(initrdName(f));
    expect(loadQemuConfig({}, "/repo", noProbe).imageFlavour).toBe("minimal");
    const full = loadQemuConfig({ MANAGER_QEMU_IMAGE_FLAVOUR: "full" }, "/repo", noProbe);
    expect([full.imageFlavour, full.initrdFile]).toEqual(["full", "/repo/images/out/initramfs-full.cpio"]);
    expect(loadQemuConfig({ MANAGER_QEMU_IMAGE_FLAVOUR: "full", MANAGER_QEMU_DISK_IMG_ROOTFS_FILE: "/x/my.cpio" }, "/repo", noProbe).initrdFile).toBe("/x/my.cpio");
    // Next to a kernel elsewhere (a copied image folder).
    expect(loadQemuConfig({ MANAGER_QEMU_IMAGE_FLAVOUR: "full", MANAGER_QEMU_DISK_IMG_KERNEL_FILE: "/img/vmlinux" }, "/repo", noProbe).initrdFile).toBe("/img/initramfs-full.cpio");
    expect(() => loadQemuConfig({ MANAGER_QEMU_IMAGE_FLAVOUR: "python" }, "/r", noProbe)).toThrow('MANAGER_QEMU_IMAGE_FLAVOUR: expected minimal or full, got "python"');
  });

  test("unless told, each VM boots the flavour its algorithm type needs: python and docker the full one, the rest the minimal one", () => {
    const be = (env: Record<string, string>) => new QemuBackend({ vmsDir: "/tmp/x", config: loadQemuConfig(env, "/repo", noProbe) });
    const auto = be({});
    expect(auto.configFor({ algoType: "python" }).initrdFile).toBe("/repo/images/out/initramfs-full.cpio");
    expect(auto.configFor({ algoType: "docker" }).imageFlavour).toBe("full");
    for (const t of ["wasm", "bin", undefined]) expect(auto.configFor({ algoType: t }).initrdFile).toBe("/repo/images/out/initramfs.cpio");
    // Told a flavour, or given one initramfs: that one for every VM.
    expect(be({ MANAGER_QEMU_IMAGE_FLAVOUR: "minimal" }).configFor({ algoType: "python" }).initrdFile).toBe("/repo/images/out/initramfs.cpio");
    expect(be({ MANAGER_QEMU_IMAGE_FLAVOUR: "full" }).configFor({ algoType: "wasm" }).initrdFile).toBe("/repo/images/out/initramfs-full.cpio");
    expect(be({ MANAGER_QEMU_DISK_IMG_ROOTFS_FILE: "/x/my.cpio" }).configFor({ algoType: "docker" }).initrdFile).toBe("/x/my.cpio");
  });

  test.skipIf(!Bun.which("qemu-system-x86_64"))("a full flavour that was not built: the error names the missing file and the command that builds it", () => {
    const dir = mkdtempSync(join(tmpdir(), "cocos-flv-"));
    writeFileSync(join(dir, "vmlinux"), "kernel");
    writeFileSync(join(dir, "initramfs.cpio"), "minimal only");
    const env = { MANAGER_QEMU_DISK_IMG_KERNEL_FILE: join(dir, "vmlinux"), MANAGER_QEMU_BIOS: "seabios" };
    const be = (over: Record<string, string>) => new QemuBackend({ vmsDir: dir, config: loadQemuConfig({ ...env, ...over }, dir, noProbe) });
    expect(() => be({ MANAGER_QEMU_IMAGE_FLAVOUR: "full" }).preflight()).toThrow(
      `guest initramfs not found: expected a file at ${dir}/initramfs-full.cpio (MANAGER_QEMU_DISK_IMG_ROOTFS_FILE, MANAGER_QEMU_IMAGE_FLAVOUR=full); build the guest image with \`bun run images -- --flavour full\``,
    );
    expect(() => be({ MANAGER_QEMU_DISK_IMG_ROOTFS_FILE: join(dir, "initramfs.cpio") }).preflight()).not.toThrow();
    rmSync(dir, { recursive: true, force: true });
  });

  test("bad values are refused with what was expected", () => {
    expect(() => loadQemuConfig({ MANAGER_QEMU_HOST_FWD_RANGE: "7000" }, "/r", noProbe)).toThrow(/START-END/);
    expect(() => loadQemuConfig({ MANAGER_QEMU_ENABLE_SEV_SNP: "maybe" }, "/r", noProbe)).toThrow(/expected true or false, got "maybe"/);
    expect(() => loadQemuConfig({ MANAGER_QEMU_SMP_COUNT: "-1" }, "/r", noProbe)).toThrow(/non-negative integer/);
    expect(() => loadQemuConfig({ MANAGER_QEMU_CHANNEL: "pipe" }, "/r", noProbe)).toThrow(/virtio-serial or vsock/);
  });
});

describe("QEMU command line", () => {
  test("TCG + virtio-serial: q35, memory, SMP, user net with hostfwd, chardev sockets, direct kernel boot", () => {
    const args = buildQemuArgs(loadQemuConfig({ MANAGER_QEMU_MONITOR: "none", MANAGER_QEMU_SMP_COUNT: "4", MANAGER_QEMU_SMP_MAXCPUS: "64" }, "/repo", noProbe), launch());
    expect(args.slice(0, 10)).toEqual(["-accel", "tcg", "-machine", "q35", "-cpu", "max", "-smp", "4,maxcpus=64", "-m", "2048M,slots=5,maxmem=30G"].slice(0, 10));
    expect(after(args, "-netdev")).toEqual(["user,id=vmnic-u1,hostfwd=tcp:127.0.0.1:6100-:7002"]);
    expect(after(args, "-device")).toEqual([
      "virtio-net-pci,disable-legacy=on,iommu_platform=true,netdev=vmnic-u1,addr=0x2,romfile=",
      "virtio-serial-pci,id=cocos-serial",
      "virtserialport,bus=cocos-serial.0,chardev=ch-manifest,name=cocos.manifest",
      "virtserialport,bus=cocos-serial.0,chardev=ch-events,name=cocos.events",
    ]);
    expect(after(args, "-chardev")).toEqual([
      "socket,id=ch-manifest,path=/w/manifest.sock,server=on,wait=off",
      "socket,id=ch-events,path=/w/events.sock,server=on,wait=off",
    ]);
    expect(after(args, "-kernel")).toEqual(["/repo/images/out/vmlinux"]);
    expect(after(args, "-append")).toEqual(["console=ttyS0 cocos.log_level=info"]);
    expect(after(args, "-initrd")).toEqual(["/repo/images/out/initramfs.cpio"]);
    expect(after(args, "-serial")).toEqual(["file:/w/console.log"]);
    expect(args).toContain("-nographic");
    expect(args).toContain("-no-reboot");
    expect(args.join(" ")).not.toMatch(/sev|pflash|vhost-vsock|-bios/);
  });

  test("the agent disk: image.json's layout picks initrd, disk and command line; attached read-only; none boots without", () => {
    const dir = mkdtempSync(join(tmpdir(), "cocos-qcfg-"));
    try {
      const cmdline = `${IMAGE_CMDLINE} cocos_init.verity=2,2,blake2b-256,ab,cd`;
      writeFileSync(join(dir, "image.json"), JSON.stringify({ cmdline, measurement_inputs: { initrd: "initramfs-disk.cpio", disk: "agent.disk" } }));
      const env = { MANAGER_QEMU_DISK_IMG_KERNEL_FILE: join(dir, "vmlinux") };
      const c = loadQemuConfig(env, "/repo", noProbe);
      expect([c.initrdFile, c.agentDiskFile, c.kernelCmdline]).toEqual([join(dir, "initramfs-disk.cpio"), join(dir, "agent.disk"), cmdline]);
      expect(after(buildQemuArgs(c, launch()), "-drive")).toEqual([`file=${join(dir, "agent.disk")},if=virtio,format=raw,readonly=on`]);
      // A comma in the path cannot add drive options.
      expect(after(buildQemuArgs({ ...c, agentDiskFile: "/w/a,readonly=off" }, launch()), "-drive")).toEqual(["file=/w/a,,readonly=off,if=virtio,format=raw,readonly=on"]);
      const none = loadQemuConfig({ ...env, MANAGER_QEMU_DISK_IMG_AGENT_FILE: "none" }, "/repo", noProbe);
      expect([none.agentDiskFile, after(buildQemuArgs(none, launch()), "-drive")]).toEqual(["", []]);
      // An image.json of the initramfs layout names no disk.
      writeFileSync(join(dir, "image.json"), JSON.stringify({ cmdline: IMAGE_CMDLINE, measurement_inputs: { initrd: "initramfs.cpio" } }));
      const plain = loadQemuConfig(env, "/repo", noProbe);
      expect([plain.initrdFile, plain.agentDiskFile]).toEqual([join(dir, "initramfs.cpio"), ""]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("MANAGER_QEMU_GUEST_FWD_HTTP adds a second hostfwd for the agent's /health", () => {
    const c = loadQemuConfig({ MANAGER_QEMU_GUEST_FWD_HTTP: "7003" }, "/repo", noProbe);
    expect(after(buildQemuArgs(c, launch({ httpHostPort: 6101 })), "-netdev")).toEqual([
      "user,id=vmnic-u1,hostfwd=tcp:127.0.0.1:6100-:7002,hostfwd=tcp:127.0.0.1:6101-:7003",
    ]);
  });

  test("KVM + vsock: -accel kvm, EPYC, vhost-vsock-pci with the guest CID and no serial ports", () => {
    const c = loadQemuConfig({ MANAGER_QEMU_ENABLE_KVM: "true", MANAGER_QEMU_CHANNEL: "vsock" }, "/repo", noProbe);
    const args = buildQemuArgs(c, launch({ sockets: undefined, guestCid: 7 }));
    expect(args.slice(0, 6)).toEqual(["-accel", "kvm", "-machine", "q35", "-cpu", "EPYC"]);
    expect(after(args, "-device")).toContain("vhost-vsock-pci,id=vhost-vsock-pci0,guest-cid=7");
    expect(args.join(" ")).not.toMatch(/virtserialport|chardev/);
    expect(() => buildQemuArgs(c, launch({ sockets: undefined }))).toThrow(/guest CID/);
  });

  test("SEV-SNP: memfd backend, sev-snp-guest with host-data, confidential machine, OVMF -bios, bzImage", () => {
    const c = loadQemuConfig({ MANAGER_QEMU_ENABLE_SEV_SNP: "true", MANAGER_QEMU_ENABLE_KVM: "true" }, "/repo", noProbe);
    const hostData = Buffer.alloc(32, 0xab).toString("base64");
    const args = buildQemuArgs(c, launch({ hostDataB64: hostData }));
    expect(after(args, "-machine")).toEqual(["q35", "confidential-guest-support=sev0-u1,memory-backend=ram1"]);
    expect(after(args, "-bios")).toEqual(["/usr/share/OVMF/OVMF_CODE.fd"]);
    expect(after(args, "-object")).toEqual([
      "memory-backend-memfd,id=ram1,size=2048M,share=true,prealloc=false",
      `sev-snp-guest,id=sev0-u1,cbitpos=51,reduced-phys-bits=1,host-data=${hostData}`,
    ]);
    expect(after(args, "-kernel")).toEqual(["/repo/images/out/bzImage"]);
    expect(args.join(" ")).not.toContain("pflash");
    const hashed = buildQemuArgs({ ...c, kernelHash: true }, launch({ hostDataB64: hostData }));
    expect(after(hashed, "-object")[1]).toContain(",kernel-hashes=on,host-data=");
  });

  test("plain SEV and OVMF boot use pflash drives with the per-VM vars copy, and no host-data", () => {
    const c = loadQemuConfig({ MANAGER_QEMU_ENABLE_SEV: "true" }, "/repo", noProbe);
    const args = buildQemuArgs(c, launch({ ovmfVarsCopy: "/w/OVMF_VARS.fd" }));
    expect(after(args, "-drive")).toEqual([
      "if=pflash,format=raw,unit=0,file=/usr/share/OVMF/OVMF_CODE.fd,readonly=on",
      "if=pflash,format=raw,unit=1,file=/w/OVMF_VARS.fd",
    ]);
    expect(after(args, "-object")[1]).toBe("sev-guest,id=sev0-u1,cbitpos=51,reduced-phys-bits=1");
  });

  test("agent settings travel as cocos.* kernel parameters; unsafe values are refused", () => {
    expect(agentEnvToCmdline({ AGENT_LOG_LEVEL: "debug", AGENT_GRPC_PORT: "7002" })).toBe("cocos.grpc_port=7002 cocos.log_level=debug");
    expect(() => agentEnvToCmdline({ AGENT_X: "a b" })).toThrow(/without spaces/);
    expect(() => agentEnvToCmdline({ AGENT_X: "init=/bin/sh\"" })).toThrow(/quotes/);
    expect(() => agentEnvToCmdline({ PATH: "/bin" })).toThrow(/AGENT_\[A-Z0-9_\]\+/);
  });
});

describe("what reaches the guest kernel command line and QEMU's argv is length-checked", () => {
  test("a launch whose command line would pass 2047 bytes is refused before QEMU starts, saying why", async () => {
    const config = loadQemuConfig({}, "/repo", noProbe);
    const backend = new QemuBackend({ vmsDir: "/tmp/none", config });
    const spec = { computationId: "c".repeat(1900), manifestJson: new Uint8Array(), manifestHash: new Uint8Array(32), agentEnv: { AGENT_LOG_LEVEL: "info" } };
    await expect(backend.plan(spec, "qemu-0123456789abcdef", "/tmp/w")).rejects.toThrow(/kernel command line is \d+ bytes, expected at most 2047/);
    // A UUID-sized id fits, and the whole line is what the kernel keeps.
    const ok = await backend.plan({ ...spec, computationId: crypto.randomUUID() }, "qemu-0123456789abcdef", "/tmp/w");
    expect(Buffer.byteLength(ok.launch.cmdline)).toBeLessThanOrEqual(KERNEL_CMDLINE_MAX);
    expect(ok.launch.cmdline).toContain("cocos.computation_id=");
  });

  test("limits: 2047 bytes of command line, 128 KiB per argument", () => {
    expect(() => checkKernelCmdline("x".repeat(2047))).not.toThrow();
    expect(() => checkKernelCmdline("x".repeat(2048))).toThrow(/2048 bytes, expected at most 2047/);
    expect(() => checkArgv(["-append", "y".repeat(200_000)])).toThrow(/argument of 200000 bytes/);
  });
});
