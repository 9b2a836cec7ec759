// QEMU backend end to end under TCG with the stand-in agent image: boot to "agent ready" through
// hostfwd, two VMs at once, re-adoption, a VM killed from outside, the guest powering off when the
// agent exits, and every start-up failure leaving nothing behind.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { pidAlive, type VmExit, type VmInfo, type VmStartSpec } from "../manager/backend.ts";
import { QemuBackend, type QemuExtra } from "../manager/backends/qemu.ts";
import { loadQemuConfig } from "../manager/backends/qemu-config.ts";
import { measureLaunch } from "../manager/measurement.ts";
import { VERITY_BLOCK } from "../images/agent-disk.ts";
import { cleanupTemp, haveDpkg, haveQemu, helloAgent, helloImage, tempDir } from "./support/guest-image.ts";

const spec = (id: string): VmStartSpec => ({
  computationId: id,
  manifestJson: new TextEncoder().encode("{}"),
  manifestHash: new Uint8Array(32).fill(7),
  agentEnv: { AGENT_LOG_LEVEL: "debug" },
});

async function config(over: Record<string, string> = {}) {
  const { dir } = await helloImage();
  return loadQemuConfig(
    {
      MANAGER_QEMU_DISK_IMG_KERNEL_FILE: join(dir, "vmlinux"),
      MANAGER_QEMU_SMP_COUNT: "1",
      MANAGER_QEMU_MEMORY_SIZE: "1024M",
      MANAGER_QEMU_MONITOR: "none",
      MANAGER_QEMU_HOST_FWD_RANGE: "26100-26199",
      MANAGER_QEMU_ENABLE_KVM: "false",
      MANAGER_QEMU_CHANNEL: "virtio-serial",
      ...over,
    },
    "/",
  );
}

async function health(port: number, deadlineMs = 150_000): Promise<Record<string, unknown>> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return (await r.json()) as Record<string, unknown>;
    } catch {}
    await Bun.sleep(200);
  }
  throw new Error(`agent on port ${port} did not answer /health within ${deadlineMs} ms`);
}

const started: QemuBackend[] = [];
afterAll(async () => {
  for (const b of started) for (const vm of b.list()) await b.stop(vm.id, { graceMs: 2000 }).catch(() => {});
  cleanupTemp();
});

describe.skipIf(!haveQemu || !haveDpkg)("QEMU backend under TCG (needs qemu-system-x86_64 and dpkg-deb)", () => {
  test("two VMs boot to agent ready; re-adoption; killed from outside; agent exit powers off", async () => {
    const vmsDir = tempDir("cq-");
    const a = new QemuBackend({ vmsDir, config: await config(), startTimeoutMs: 60_000 });
    started.push(a);
    const exits: VmExit[] = [];
    const console: string[] = [];
    a.onExit((e) => exits.push(e));
    a.onOutput((o) => console.push(o.text));

    const [one, two] = await Promise.all([a.start(spec("c-one")), a.start(spec("c-two"))]);
    expect(one.agentPort).not.toBe(two.agentPort);
    expect(one.channelPaths.manifest).not.toBe(two.channelPaths.manifest);
    expect(one.workDir).not.toBe(two.workDir);
    for (const vm of [one, two]) {
      expect(existsSync(vm.channelPaths.manifest) && existsSync(vm.channelPaths.events)).toBe(true);
      expect(vm.agentPort).toBeGreaterThanOrEqual(26100);
    }
    const [h1, h2] = await Promise.all([health(one.agentPort), health(two.agentPort)]);
    // Settings reached the agent only through the kernel command line.
    expect(h1.settings).toMatchObject({ AGENT_COMPUTATION_ID: "c-one", AGENT_LOG_LEVEL: "debug", AGENT_HOST_CHANNEL: "virtio-serial", AGENT_GRPC_PORT: "7002", AGENT_ATTESTATION: "host" });
    expect((h2.settings as Record<string, string>).AGENT_COMPUTATION_ID).toBe("c-two");
    await Bun.sleep(400);
    expect(console.join("")).toContain("cocos-init: starting agent");

    // The recorded measurement is the one computed from the booted files and command line.
    const x = one.extra as unknown as QemuExtra;
    const m = await measureLaunch({ kernel: x.kernel, initrd: x.initrd, cmdline: x.cmdline });
    expect(x.measurement).toBe(Buffer.from(m.measurement).toString("hex"));
    expect(x.cmdline).toContain("cocos.computation_id=c-one");

    // Manager restart: forget, then adopt with a new backend instance; a stale record is refused.
    a.detachAll();
    expect(a.list()).toEqual([]);
    const b = new QemuBackend({ vmsDir, config: await config(), pollMs: 100 });
    started.push(b);
    const bExits: VmExit[] = [];
    b.onExit((e) => bExits.push(e));
    expect(await b.adopt(one)).toBe(true);
    expect(await b.adopt(two)).toBe(true);
    expect(await b.adopt({ ...one, id: "qemu-stale", pid: 999_999_999, workDir: join(vmsDir, "qemu-stale") } as VmInfo)).toBe(false);
    expect(pidAlive(one.pid)).toBe(true);
    expect((await health(one.agentPort, 10_000)).status).toBe("pass");

    // Killed from outside → an exit event that was not requested, state cleaned.
    process.kill(one.pid, "SIGKILL");
    for (let i = 0; i < 100 && !bExits.some((e) => e.info.id === one.id); i++) await Bun.sleep(100);
    const killed = bExits.find((e) => e.info.id === one.id);
    expect(killed?.requested).toBe(false);
    expect(existsSync(one.workDir)).toBe(false);
    expect(b.list().map((v) => v.id)).toEqual([two.id]);

    // The agent exits → /init powers the VM off → QEMU exits by itself.
    await fetch(`http://127.0.0.1:${two.agentPort}/exit?code=0`).catch(() => {});
    for (let i = 0; i < 300 && !bExits.some((e) => e.info.id === two.id); i++) await Bun.sleep(100);
    expect(bExits.find((e) => e.info.id === two.id)?.requested).toBe(false);
    expect(pidAlive(two.pid)).toBe(false);
    expect(readdirSync(vmsDir)).toEqual([]);
    expect(exits).toEqual([]); // the detached backend no longer reports
  }, 300_000);

  test("stop: SIGTERM, exit event marked requested, nothing left", async () => {
    const vmsDir = tempDir("cq-");
    const be = new QemuBackend({ vmsDir, config: await config() });
    started.push(be);
    const exits: VmExit[] = [];
    be.onExit((e) => exits.push(e));
    const vm = await be.start({ ...spec("c-stop"), ttlMs: 0 });
    await be.stop(vm.id, { graceMs: 5000 });
    expect(exits.map((e) => [e.info.id, e.requested])).toEqual([[vm.id, true]]);
    expect(pidAlive(vm.pid)).toBe(false);
    expect(readdirSync(vmsDir)).toEqual([]);
    await expect(be.stop(vm.id)).rejects.toThrow(/no VM with id/);
  }, 120_000);

  test("TTL stops the VM by itself", async () => {
    const vmsDir = tempDir("cq-");
    const be = new QemuBackend({ vmsDir, config: await config() });
    started.push(be);
    const exits: VmExit[] = [];
    be.onExit((e) => exits.push(e));
    const vm = await be.start({ ...spec("c-ttl"), ttlMs: 500 });
    expect(vm.expiresAt).toBeGreaterThan(Date.now() - 1000);
    for (let i = 0; i < 200 && !exits.length; i++) await Bun.sleep(100);
    expect(exits[0]?.requested).toBe(true);
    expect(pidAlive(vm.pid)).toBe(false);
  }, 120_000);

  test("agent disk: the agent boots from the dm-verity disk; a byte the host flips in it keeps the agent from starting", async () => {
    const { dir, manifest } = await helloImage();
    const d = manifest.agent_disk;
    const diskCfg = (disk: string) =>
      config({ MANAGER_QEMU_DISK_IMG_ROOTFS_FILE: join(dir, d.initramfs.file), MANAGER_QEMU_DISK_IMG_AGENT_FILE: disk, MANAGER_QEMU_KERNEL_CMDLINE: d.cmdline });
    const boot = async (disk: string) => {
      const be = new QemuBackend({ vmsDir: tempDir("cq-"), config: await diskCfg(disk), startTimeoutMs: 60_000 });
      started.push(be);
      let out = "";
      const exits: VmExit[] = [];
      be.onOutput((o) => (out += o.text));
      be.onExit((e) => exits.push(e));
      const vm = await be.start(spec("c-disk"));
      return { be, vm, exits, console: () => out };
    };

    const good = await boot(join(dir, d.disk.file));
    expect((good.vm.extra as unknown as QemuExtra).disk).toBe(join(dir, d.disk.file));
    expect((await health(good.vm.agentPort)).status).toBe("pass");
    expect(good.console()).toContain("cocos-init: agent disk open");
    await good.be.stop(good.vm.id, { graceMs: 2000 });

    // The host flips one bit in the first page of the agent binary (read by every exec): the guest
    // reads it back as an I/O error, the agent never starts and /init powers the VM off.
    const bytes = new Uint8Array(readFileSync(join(dir, d.disk.file)));
    const head = readFileSync(await helloAgent()).subarray(0, VERITY_BLOCK);
    const at = Buffer.from(bytes.buffer, bytes.byteOffset, d.verity.data_blocks * VERITY_BLOCK).indexOf(head);
    expect(at % VERITY_BLOCK).toBe(0);
    bytes[at + 100]! ^= 1;
    const tampered = join(tempDir("cq-disk-"), "agent.disk");
    writeFileSync(tampered, bytes);
    const bad = await boot(tampered);
    for (let i = 0; i < 900 && !bad.exits.length; i++) await Bun.sleep(100);
    expect(bad.exits.map((e) => e.requested)).toEqual([false]);
    expect(bad.console()).toMatch(/verity: .*data block \d+ is corrupted/);
    expect(bad.console()).not.toContain("hello-agent ready");
  }, 300_000);
});

describe.skipIf(!haveDpkg)("QEMU backend start-up failures leave nothing behind", () => {
  test("QEMU missing from PATH", async () => {
    const vmsDir = tempDir("cq-");
    const be = new QemuBackend({ vmsDir, config: await config(), path: "/nonexistent-bin" });
    await expect(be.start(spec("c"))).rejects.toThrow(/QEMU not found: expected the executable "qemu-system-x86_64" \(MANAGER_QEMU_BIN_PATH\) on PATH=\/nonexistent-bin/);
    expect(readdirSync(vmsDir)).toEqual([]);
    expect(be.list()).toEqual([]);
  });

  test.skipIf(!haveQemu)("kernel or initramfs path that does not exist", async () => {
    const vmsDir = tempDir("cq-");
    const k = new QemuBackend({ vmsDir, config: await config({ MANAGER_QEMU_DISK_IMG_KERNEL_FILE: "/nonexistent/vmlinux" }) });
    await expect(k.start(spec("c"))).rejects.toThrow("guest kernel not found: expected a file at /nonexistent/vmlinux (MANAGER_QEMU_DISK_IMG_KERNEL_FILE)");
    const i = new QemuBackend({ vmsDir, config: await config({ MANAGER_QEMU_DISK_IMG_ROOTFS_FILE: "/nonexistent/initramfs.cpio" }) });
    await expect(i.start(spec("c"))).rejects.toThrow("guest initramfs not found: expected a file at /nonexistent/initramfs.cpio");
    expect(readdirSync(vmsDir)).toEqual([]);
  });

  test.skipIf(!haveQemu)("QEMU failing at start-up: its error is reported and no process or directory is left", async () => {
    const vmsDir = tempDir("cq-");
    const be = new QemuBackend({ vmsDir, config: await config({ MANAGER_QEMU_MACHINE: "no-such-machine" }) });
    await expect(be.start(spec("c"))).rejects.toThrow(/QEMU exited during start-up \(status 1\): .*unsupported machine type/s);
    expect(readdirSync(vmsDir)).toEqual([]);
    const r = Bun.spawnSync(["pgrep", "-f", vmsDir]);
    expect(r.stdout.toString().trim()).toBe("");
  });

  test.skipIf(!haveQemu)("no free port in MANAGER_QEMU_HOST_FWD_RANGE, no free guest CID", async () => {
    const vmsDir = tempDir("cq-");
    const srv = createServer();
    await new Promise<void>((r) => srv.listen({ port: 0, host: "127.0.0.1" }, () => r()));
    const port = (srv.address() as { port: number }).port;
    try {
      const be = new QemuBackend({ vmsDir, config: await config({ MANAGER_QEMU_HOST_FWD_RANGE: `${port}-${port}` }) });
      await expect(be.start(spec("c"))).rejects.toThrow(`no free TCP port in ${port}-${port}`);
    } finally {
      srv.close();
    }
    const v = new QemuBackend({ vmsDir, config: await config({ MANAGER_QEMU_CHANNEL: "vsock" }), cidCount: 0 });
    await expect(v.start(spec("c"))).rejects.toThrow("no free vsock guest CID in 3-2");
    expect(readdirSync(vmsDir)).toEqual([]);
  });

  test("a wrong-length manifest hash is refused before anything starts", async () => {
    const vmsDir = tempDir("cq-");
    const be = new QemuBackend({ vmsDir, config: await config() });
    await expect(be.start({ ...spec("c"), manifestHash: new Uint8Array(31) })).rejects.toThrow("manifest hash: expected 32 bytes (SHA3-256), got 31");
    expect(readdirSync(vmsDir)).toEqual([]);
  });
});

const distAgent = process.env.COCOS_IMAGE_AGENT ?? join(import.meta.dir, "../dist/cocos-agent");
describe.skipIf(!haveQemu || !haveDpkg || !existsSync(distAgent))("QEMU backend with the compiled agent (needs dist/cocos-agent)", () => {
  test("the real agent boots in the VM, finds its virtio-serial channel and answers /health through hostfwd", async () => {
    const { buildImage } = await import("../images/build.ts");
    const dir = tempDir("cimg-");
    await buildImage({ agent: distAgent, out: dir, compress: false, log: () => {} });
    const vmsDir = tempDir("cq-");
    const cfg = loadQemuConfig(
      {
        MANAGER_QEMU_DISK_IMG_KERNEL_FILE: join(dir, "vmlinux"),
        MANAGER_QEMU_MONITOR: "none",
        MANAGER_QEMU_HOST_FWD_RANGE: "26200-26299",
        MANAGER_QEMU_ENABLE_KVM: "false",
        MANAGER_QEMU_CHANNEL: "virtio-serial",
        MANAGER_QEMU_GUEST_FWD_HTTP: "7003",
      },
      "/",
    );
    const be = new QemuBackend({ vmsDir, config: cfg, startTimeoutMs: 60_000 });
    started.push(be);
    let out = "";
    be.onOutput((o) => (out += o.text));
    const vm = await be.start(spec("c-real"));
    const httpPort = (vm.extra as unknown as QemuExtra).httpPort!;
    expect(httpPort).toBeGreaterThanOrEqual(26200);
    const h = await health(httpPort, 240_000);
    expect(h).toMatchObject({ status: "pass", service: "cocos-agent" });
    for (let i = 0; i < 50 && !out.includes("waiting for the computation manifest"); i++) await Bun.sleep(200);
    expect(out).toContain('"source":"virtio-serial"');
    await be.stop(vm.id, { graceMs: 5000 });
    expect(readdirSync(vmsDir)).toEqual([]);
  }, 300_000);
});
