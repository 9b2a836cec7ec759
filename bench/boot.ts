// Boot benchmark: QEMU start → agent ready through the manager's QEMU backend (median of several
// boots), next to the same kernel with a busybox-only initramfs (QEMU start → marker on the serial
// console), interleaved so both see the same machine load. Also initramfs sizes and the agent's
// resident set inside the guest. `bun run bench -- boot` (BENCH_BOOT_RUNS, default 5).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildImage, ZSTD_LEVEL, type ImageManifest } from "../images/build.ts";
import { QemuBackend } from "../manager/backends/qemu.ts";
import { buildQemuArgs, loadQemuConfig, type QemuConfig } from "../manager/backends/qemu-config.ts";

const root = resolve(import.meta.dir, "..");
const TARGET_READY_MS = 4000;
const TARGET_ZSTD_BYTES = 50_000_000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};
const stats = (xs: number[]) => ({ median_ms: Math.round(median(xs)), min_ms: Math.min(...xs), max_ms: Math.max(...xs), samples_ms: xs });

/** $BENCH_BOOT_IMAGE_DIR or images/out when built, else a temporary image around dist/cocos-agent or the stand-in agent. */
async function image(tmp: string): Promise<{ dir: string; manifest: ImageManifest }> {
  const out = resolve(process.env.BENCH_BOOT_IMAGE_DIR ?? join(root, "images/out"));
  if (existsSync(join(out, "image.json")) && existsSync(join(out, "vmlinux"))) return { dir: out, manifest: JSON.parse(readFileSync(join(out, "image.json"), "utf8")) };
  let agent = process.env.COCOS_IMAGE_AGENT ?? join(root, "dist/cocos-agent");
  if (!existsSync(agent)) {
    agent = join(tmp, "hello-agent");
    const r = Bun.spawnSync([process.execPath, "build", "--compile", join(root, "images/testdata/hello-agent.ts"), "--outfile", agent], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`compiling the stand-in agent failed: ${r.stderr.toString()}`);
  }
  const dir = join(tmp, "image");
  return { dir, manifest: await buildImage({ agent, out: dir, log: () => {} }) };
}

async function waitHttp(url: string, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return true;
    } catch {}
    await Bun.sleep(25);
  }
  return false;
}

/** Same kernel and QEMU flags, busybox-only initramfs: time until its marker reaches the console. */
async function baselineBoot(c: QemuConfig, initrd: string, tmp: string, i: number): Promise<number> {
  const serial = join(tmp, `baseline-${i}.log`);
  const args = buildQemuArgs({ ...c, initrdFile: initrd, monitor: "none" }, {
    uuid: `b${i}`,
    hostPort: 0,
    cmdline: c.kernelCmdline,
    serialLog: serial,
    qmpSocket: join(tmp, `b${i}.qmp`),
    sockets: { manifest: join(tmp, `b${i}.m`), events: join(tmp, `b${i}.e`) },
  }).map((a) => a.replace(/hostfwd=tcp:[^,]*:0-:\d+/, "restrict=on"));
  const t0 = performance.now();
  const child = spawn(c.binPath, args, { stdio: "ignore" });
  const exited = new Promise((r) => child.once("exit", r));
  try {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (existsSync(serial) && readFileSync(serial, "utf8").includes("COCOS-BASELINE-READY")) return Math.round(performance.now() - t0);
      if (child.exitCode !== null) break;
      await Bun.sleep(10);
    }
    throw new Error(`baseline boot ${i} printed no marker: ${existsSync(serial) ? readFileSync(serial, "utf8").slice(-500) : "no console output"}`);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
  }
}

export async function run(): Promise<object> {
  const runs = Number(process.env.BENCH_BOOT_RUNS ?? 5);
  const tmp = mkdtempSync(join(tmpdir(), "cocos-bench-boot-"));
  try {
    const { dir, manifest } = await image(tmp);
    const realAgent = manifest.agent.file === "cocos-agent";
    const httpGuestPort = 7003;
    const config = loadQemuConfig({
      ...process.env,
      MANAGER_QEMU_DISK_IMG_KERNEL_FILE: join(dir, "vmlinux"),
      MANAGER_QEMU_DISK_IMG_ROOTFS_FILE: join(dir, "initramfs.cpio"),
      MANAGER_QEMU_MONITOR: "none",
      // The agent's HTTP /health tells when it is ready; the stand-in serves it on the agent port.
      ...(realAgent ? { MANAGER_QEMU_GUEST_FWD_HTTP: String(httpGuestPort) } : {}),
      ...(realAgent ? {} : { MANAGER_QEMU_KERNEL_CMDLINE: `${manifest.cmdline} cocos_init.rss_after=3` }),
    });
    const backend = new QemuBackend({ vmsDir: join(tmp, "vms"), config, startTimeoutMs: 120_000 });
    const ready: number[] = [];
    const baseline: number[] = [];
    const initStart: number[] = [];
    let rssKb: number | undefined;
    let consoleText = "";
    backend.onOutput((o) => (consoleText += o.text));
    for (let i = 0; i < runs; i++) {
      baseline.push(await baselineBoot(config, join(dir, "initramfs-busybox.cpio"), tmp, i));
      consoleText = "";
      const t0 = performance.now();
      const vm = await backend.start({
        computationId: `bench-${i}`,
        manifestJson: new Uint8Array(0),
        manifestHash: new Uint8Array(32),
        agentEnv: { AGENT_LOG_LEVEL: "info" },
      });
      const port = realAgent ? (vm.extra as { httpPort?: number }).httpPort! : vm.agentPort;
      const ok = await waitHttp(`http://127.0.0.1:${port}/health`, Date.now() + 120_000);
      if (!ok) throw new Error(`boot ${i}: agent did not answer /health within 120 s`);
      ready.push(Math.round(performance.now() - t0));
      if (i === runs - 1) {
        await Bun.sleep(2000); // let the idle agent settle
        if (realAgent) {
          const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
          const m = /^cocos_agent_resident_memory_bytes\s+(\d+)/m.exec(metrics);
          if (m) rssKb = Math.round(Number(m[1]) / 1024);
        } else {
          // The stand-in has no /metrics: /init prints the agent's VmRSS (cocos_init.rss_after).
          for (let w = 0; w < 100 && !/VmRSS/.test(consoleText); w++) await Bun.sleep(100);
          const m = /agent VmRSS: (\d+) kB/.exec(consoleText);
          if (m) rssKb = Number(m[1]);
        }
      }
      const up = /starting agent, uptime ([\d.]+)s/.exec(consoleText);
      if (up) initStart.push(Number(up[1]));
      await backend.stop(vm.id, { graceMs: 3000 });
    }
    const cpio = manifest.initramfs.cpio.size;
    const zstd = manifest.initramfs.zstd?.size ?? Bun.zstdCompressSync(readFileSync(join(dir, "initramfs.cpio")), { level: ZSTD_LEVEL }).length;
    const agentReady = stats(ready);
    return {
      suite: "boot",
      date: new Date().toISOString(),
      // TCG boot times follow host load closely; read the figures next to it.
      host_load_avg_1m: Number(loadavg()[0]!.toFixed(2)),
      qemu: {
        accel: config.accel,
        cpu: config.cpu,
        smp: config.smpCount,
        memory: config.memorySize,
        bios: config.bios || "SeaBIOS (QEMU default)",
        cmdline: config.kernelCmdline,
        kernel: "vmlinux (PVH, uncompressed)",
        initrd: "initramfs.cpio (uncompressed)",
      },
      agent: { file: manifest.agent.file, bytes: manifest.agent.size, readiness: realAgent ? `GET /health on guest port ${httpGuestPort}` : "GET /health on guest port 7002" },
      runs,
      agent_ready: agentReady,
      busybox_baseline: stats(baseline),
      agent_minus_baseline_ms: Math.round(median(ready) - median(baseline)),
      guest_uptime_at_agent_start_s: initStart,
      initramfs: { uncompressed_bytes: cpio, zstd_bytes: zstd, zstd_level: ZSTD_LEVEL },
      agent_rss_kb_in_guest: rssKb ?? null,
      agent_rss_source: realAgent ? "agent /metrics cocos_agent_resident_memory_bytes, 2 s after ready" : "VmRSS from /proc in the guest, 3 s after start",
      targets: { agent_ready_ms: TARGET_READY_MS, initramfs_zstd_bytes: TARGET_ZSTD_BYTES },
      meets: { agent_ready: agentReady.median_ms <= TARGET_READY_MS, initramfs_size: zstd <= TARGET_ZSTD_BYTES },
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { writeResult } = await import("./main.ts");
  const result = await run();
  console.log(JSON.stringify(result, null, 2));
  console.log(`wrote ${writeResult("boot", result)}`);
}
