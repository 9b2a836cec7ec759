// Boot benchmark: QEMU start → agent ready through the manager's QEMU backend (median of several
// boots), next to the same kernel with a busybox-only initramfs (QEMU start → marker on the serial
// console), interleaved so both see the same machine load. Also initramfs sizes and the agent's
// resident set inside the guest, the guest's boot by phase (from the uptime stamps /init and the agent
// print on the console), the same image with a zstd and an lz4 initramfs, and the agent-disk layout
// (small initramfs + the agent on a dm-verity disk, images/agent-disk.ts), all in the same run.
// `bun run bench -- boot` (BENCH_BOOT_RUNS, default 5; BENCH_BOOT_COMPRESSED=0 skips the compressed boots).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildImage, DEFAULT_CMDLINE, ZSTD_LEVEL, type BootLayout, type ImageManifest } from "../images/build.ts";
import { FLAVOURS } from "../images/flavours/index.ts";
import { QemuBackend } from "../manager/backends/qemu.ts";
import { fileSha256 } from "../manager/measurement.ts";
import { buildQemuArgs, loadQemuConfig, type QemuConfig } from "../manager/backends/qemu-config.ts";

const root = resolve(import.meta.dir, "..");
const TARGET_READY_MS = 4000;
const TARGET_ZSTD_BYTES = 50_000_000;
/** Agent ready within 1.5x the busybox-only boot on the same kernel (issue 11). */
const TARGET_RATIO = 1.5;

/** Guest-uptime stamps on the console (images/init.sh, agent/boot-marks.ts), in seconds. */
export interface BootStamps {
  unpackStart?: number;
  unpackEnd?: number;
  runInit?: number;
  initStarted?: number;
  modulesLoaded?: number;
  /** Disk layout: the verity device opened and mounted. */
  diskOpen?: number;
  agentExec?: number;
  marks: Record<string, number>;
}

export function parseBootStamps(consoleText: string): BootStamps {
  const num = (re: RegExp) => {
    const m = re.exec(consoleText);
    return m ? Number(m[1]) : undefined;
  };
  const marks: Record<string, number> = {};
  for (const m of consoleText.matchAll(/"msg":"boot","phase":"([a-z-]+)","since_start_ms":\d+,"uptime_s":([\d.]+)/g)) marks[m[1]!] = Number(m[2]);
  return {
    unpackStart: num(/\[\s*([\d.]+)\] Trying to unpack rootfs/),
    unpackEnd: num(/\[\s*([\d.]+)\] Freeing initrd memory/),
    runInit: num(/\[\s*([\d.]+)\] Run \/init/),
    initStarted: num(/cocos-init: started, uptime ([\d.]+)s/),
    modulesLoaded: num(/cocos-init: modules loaded, uptime ([\d.]+)s/),
    diskOpen: num(/cocos-init: agent disk open, uptime ([\d.]+)s/),
    agentExec: num(/cocos-init: starting agent, uptime ([\d.]+)s/),
    marks,
  };
}

/** Phase durations in ms (undefined where a stamp is missing). */
export function bootPhases(s: BootStamps): Record<string, number | undefined> {
  const d = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : Math.round((b - a) * 1000));
  return {
    kernel_to_unpack: s.unpackStart === undefined ? undefined : Math.round(s.unpackStart * 1000),
    initramfs_unpack: d(s.unpackStart, s.unpackEnd),
    unpack_to_init: d(s.unpackEnd, s.runInit),
    init_reroot: d(s.runInit, s.initStarted),
    init_modules: d(s.initStarted, s.modulesLoaded),
    init_agent_disk: d(s.modulesLoaded, s.diskOpen),
    init_net_ports_settings: d(s.diskOpen ?? s.modulesLoaded, s.agentExec),
    agent_exec_to_first_line: d(s.agentExec, s.marks.entry),
    agent_imports: d(s.marks.entry, s.marks.imported),
    agent_config_to_listening: d(s.marks.imported, s.marks.listening),
    listening_to_first_event: d(s.marks.listening, s.marks["first-event"]),
    guest_uptime_at_listening: s.marks.listening === undefined ? undefined : Math.round(s.marks.listening * 1000),
  };
}

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
async function baselineBoot(c: QemuConfig, initrd: string, tmp: string, i: number): Promise<{ ms: number; uptimeS?: number }> {
  const serial = join(tmp, `baseline-${i}.log`);
  const args = buildQemuArgs({ ...c, initrdFile: initrd, agentDiskFile: "", monitor: "none" }, {
    uuid: `b${i}`,
    hostPort: 0,
    cmdline: c.kernelCmdline,
    serialLog: serial,
    qmpSocket: join(tmp, `b${i}.qmp`),
    sockets: { manifest: join(tmp, `b${i}.m`), events: join(tmp, `b${i}.e`) },
  }).map((a) => a.replace(/hostfwd=tcp:[^,]*:0-:\d+/, "restrict=on"));
  const t0 = performance.now();
  const child = spawn(c.binPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise((r) => child.once("exit", r));
  try {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const text = existsSync(serial) ? readFileSync(serial, "utf8") : "";
      const m = /COCOS-BASELINE-READY uptime ([\d.]+)/.exec(text);
      if (m) return { ms: Math.round(performance.now() - t0), uptimeS: Number(m[1]) };
      if (child.exitCode !== null) break;
      await Bun.sleep(10);
    }
    throw new Error(`baseline boot ${i} printed no marker (QEMU exit ${child.exitCode}, stderr ${JSON.stringify(stderr.slice(-300))}): ${existsSync(serial) ? readFileSync(serial, "utf8").slice(-500) : "no console output"}`);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
  }
}

/** One way of booting the image: its initrd, the agent disk if any, and the command line that goes with them. */
interface BootVariant {
  name: string;
  layout: BootLayout;
  file: string;
  bytes: number;
  disk?: string;
  cmdline: string;
}

/** The initramfs in each compression the kernel can unpack, boot-benchmarked side by side. */
function initrdVariants(dir: string, manifest: ImageManifest, tmp: string): BootVariant[] {
  const cpio = join(dir, "initramfs.cpio");
  const v = (name: string, file: string, bytes: number): BootVariant => ({ name, layout: "initramfs", file, bytes, cmdline: DEFAULT_CMDLINE });
  const out = [v("uncompressed", cpio, manifest.initramfs.cpio.size)];
  if (process.env.BENCH_BOOT_COMPRESSED === "0") return out;
  let zst = join(dir, "initramfs.cpio.zst");
  if (!existsSync(zst)) {
    zst = join(tmp, "initramfs.cpio.zst");
    writeFileSync(zst, Bun.zstdCompressSync(readFileSync(cpio), { level: ZSTD_LEVEL }));
  }
  out.push(v(`zstd-${ZSTD_LEVEL}`, zst, statSync(zst).size));
  // The kernel reads lz4's legacy frame format (lz4 -l); the lz4 CLI is Debian's `lz4` package.
  const lz4 = join(tmp, "initramfs.cpio.lz4");
  if (Bun.spawnSync(["lz4", "-l", "-9", "-q", "-f", cpio, lz4], { stdout: "ignore", stderr: "ignore" }).exitCode === 0) out.push(v("lz4-l9", lz4, statSync(lz4).size));
  return out;
}

/** The agent-disk layout: the small initramfs, the dm-verity disk, the command line carrying its root hash. */
function diskVariant(dir: string, manifest: ImageManifest): BootVariant {
  const d = manifest.agent_disk;
  return { name: "disk", layout: "disk", file: join(dir, d.initramfs.file), bytes: d.initramfs.size, disk: join(dir, d.disk.file), cmdline: d.cmdline };
}

/** Sizes of an ELF file's sections by name (the agent: Bun's code vs the embedded `.bun` graph). */
export function elfSectionSizes(elf: Uint8Array): Record<string, number> {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const strndx = v.getUint16(0x3e, true);
  const strOff = Number(v.getBigUint64(shoff + strndx * shentsize + 0x18, true));
  const out: Record<string, number> = {};
  for (let i = 1; i < shnum; i++) {
    const h = shoff + i * shentsize;
    const nameAt = strOff + v.getUint32(h, true);
    const name = new TextDecoder().decode(elf.subarray(nameAt, elf.indexOf(0, nameAt)));
    out[name] = Number(v.getBigUint64(h + 0x20, true));
  }
  return out;
}

function agentComposition(dir: string, manifest: ImageManifest): object | null {
  const agentFile = join(root, "dist", manifest.agent.file);
  if (!existsSync(agentFile) || statSync(agentFile).size !== manifest.agent.size) return null;
  const sec = elfSectionSizes(new Uint8Array(readFileSync(agentFile)));
  const bunRuntime = (sec[".text"] ?? 0) + (sec[".rodata"] ?? 0) + (sec[".bun_builtins"] ?? 0);
  return {
    bun_runtime_bytes: bunRuntime,
    embedded_graph_bytes: sec[".bun"] ?? 0,
    embedded: "agent bundle as JSC bytecode + its source (bytecode needs both), the Wasm worker bundle, preview2-shim's worker-thread bundle, jco bindgen + wasm-tools core modules (the in-guest component transpiler, 5.9 MB)",
  };
}

/** Each flavour's initramfs size (uncompressed, zstd when made), or how to build a missing one. */
function flavourSizes(manifest: ImageManifest): Record<string, unknown> {
  const sizes: Record<string, unknown> = {};
  for (const f of FLAVOURS) {
    const m = manifest.flavours?.[f];
    sizes[f] = m ? { initramfs_bytes: m.initramfs.cpio.size, zstd_bytes: m.initramfs.zstd?.size ?? null, entries: m.initramfs.entries } : { built: false, build: `bun run images -- --flavour ${f}` };
  }
  return sizes;
}

export async function run(): Promise<object> {
  const runs = Number(process.env.BENCH_BOOT_RUNS ?? 5);
  const tmp = mkdtempSync(join(tmpdir(), "cocos-bench-boot-"));
  try {
    const { dir, manifest } = await image(tmp);
    const realAgent = manifest.agent.file === "cocos-agent";
    const httpGuestPort = 7003;
    // The default layout first: its boot gives agent_ready, the ratio and the phases.
    const variants = [diskVariant(dir, manifest), ...initrdVariants(dir, manifest, tmp)].sort((a, b) => Number(b.layout === manifest.layout) - Number(a.layout === manifest.layout));
    const backends = variants.map((v) => {
      const config = loadQemuConfig({
        ...process.env,
        MANAGER_QEMU_DISK_IMG_KERNEL_FILE: join(dir, "vmlinux"),
        MANAGER_QEMU_DISK_IMG_ROOTFS_FILE: v.file,
        MANAGER_QEMU_DISK_IMG_AGENT_FILE: v.disk ?? "none",
        MANAGER_QEMU_MONITOR: "none",
        // The agent's HTTP /health tells when it is ready; the stand-in serves it on the agent port.
        ...(realAgent ? { MANAGER_QEMU_GUEST_FWD_HTTP: String(httpGuestPort) } : {}),
        MANAGER_QEMU_KERNEL_CMDLINE: realAgent ? v.cmdline : `${v.cmdline} cocos_init.rss_after=3`,
      });
      return new QemuBackend({ vmsDir: join(tmp, "vms"), config, startTimeoutMs: 120_000 });
    });
    const config = backends[0]!.config;
    for (const v of variants) await fileSha256(v.file); // hashed once, before any timing
    const ready: number[][] = variants.map(() => []);
    const phases: Record<string, number | undefined>[][] = variants.map(() => []);
    const baseline: number[] = [];
    const baselineUptime: number[] = [];
    const baselineRetries: string[] = [];
    let rssKb: number | undefined;
    let consoleText = ""; // one VM at a time
    for (const b of backends) b.onOutput((o) => (consoleText += o.text));
    for (let i = 0; i < runs; i++) {
      // A TCG guest now and then dies before its first console line under heavy host load: one retry, counted.
      const b = await baselineBoot(config, join(dir, "initramfs-busybox.cpio"), tmp, i).catch((e) => {
        baselineRetries.push(String((e as Error).message).slice(0, 300));
        return baselineBoot(config, join(dir, "initramfs-busybox.cpio"), tmp, runs + i);
      });
      baseline.push(b.ms);
      if (b.uptimeS !== undefined) baselineUptime.push(Math.round(b.uptimeS * 1000));
      for (const [k, backend] of backends.entries()) {
        consoleText = "";
        const t0 = performance.now();
        const vm = await backend.start({
          computationId: `bench-${i}-${k}`,
          manifestJson: new Uint8Array(0),
          manifestHash: new Uint8Array(32),
          agentEnv: { AGENT_LOG_LEVEL: "info" },
        });
        const port = realAgent ? (vm.extra as { httpPort?: number }).httpPort! : vm.agentPort;
        const ok = await waitHttp(`http://127.0.0.1:${port}/health`, Date.now() + 120_000);
        if (!ok) throw new Error(`boot ${i} (${variants[k]!.name}): agent did not answer /health within 120 s`);
        ready[k]!.push(Math.round(performance.now() - t0));
        const uncompressed = variants[k]!.layout === "disk" || variants[k]!.name === "uncompressed";
        if (uncompressed) {
          await Bun.sleep(k === 0 && i === runs - 1 ? 2000 : 500); // the first event's stamp; the last run lets the idle agent settle
          if (k === 0 && i === runs - 1) rssKb = await agentRss(realAgent, port, () => consoleText);
          phases[k]!.push(bootPhases(parseBootStamps(consoleText)));
        }
        await backend.stop(vm.id, { graceMs: 3000 });
      }
    }
    const agentReady = stats(ready[0]!);
    const base = median(baseline);
    const phaseMedians = (ps: Record<string, number | undefined>[]) =>
      Object.fromEntries(Object.keys(ps[0] ?? {}).map((n) => [n, Math.round(median(ps.map((p) => p[n]).filter((x): x is number => x !== undefined)))]));
    const summary = (k: number) => ({ bytes: variants[k]!.bytes, ...stats(ready[k]!), ratio_to_baseline: Number((median(ready[k]!) / base).toFixed(2)) });
    const initramfsVariants = variants.flatMap((v, k) => (v.layout === "initramfs" ? [[v.name, k] as const] : []));
    const diskAt = variants.findIndex((v) => v.layout === "disk");
    const plainAt = variants.findIndex((v) => v.name === "uncompressed");
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
      },
      agent: { file: manifest.agent.file, bytes: manifest.agent.size, readiness: realAgent ? `GET /health on guest port ${httpGuestPort}` : "GET /health on guest port 7002", composition: agentComposition(dir, manifest) },
      runs,
      agent_ready: agentReady,
      busybox_baseline: { ...stats(baseline), guest_uptime_at_marker_median_ms: Math.round(median(baselineUptime)), retried: baselineRetries },
      agent_minus_baseline_ms: Math.round(agentReady.median_ms - base),
      ratio_to_baseline: Number((agentReady.median_ms / base).toFixed(2)),
      default_layout: manifest.layout,
      // The agent in the initramfs, by compression, and the agent on the dm-verity disk (initrd bytes: the small initramfs).
      by_initramfs_compression: Object.fromEntries(initramfsVariants.map(([name, k]) => [name, summary(k)])),
      by_layout: {
        initramfs: summary(plainAt),
        disk: { ...summary(diskAt), disk_bytes: manifest.agent_disk.disk.size, fs: manifest.agent_disk.fs, verity_hash: manifest.agent_disk.verity.hash },
      },
      // Guest uptime differences (ms) of the default layout (uncompressed); medians over the runs.
      guest_phases_median_ms: phaseMedians(phases[0]!),
      guest_phases_samples_ms: phases[0]!,
      guest_phases_by_layout_median_ms: { initramfs: phaseMedians(phases[plainAt]!), disk: phaseMedians(phases[diskAt]!) },
      initramfs: { uncompressed_bytes: manifest.initramfs.cpio.size, zstd_bytes: variants.find((v) => v.name.startsWith("zstd"))?.bytes ?? null, zstd_level: ZSTD_LEVEL, entries: manifest.initramfs.entries },
      agent_disk: { initramfs_bytes: manifest.agent_disk.initramfs.size, disk_bytes: manifest.agent_disk.disk.size, verity: manifest.agent_disk.verity },
      // Both flavours' sizes as image.json records them (the full one when built with --flavour full).
      flavours: flavourSizes(manifest),
      agent_rss_kb_in_guest: rssKb ?? null,
      agent_rss_source: realAgent ? "agent /metrics cocos_agent_resident_memory_bytes, 2 s after ready" : "VmRSS from /proc in the guest, 3 s after start",
      targets: { agent_ready_ms: TARGET_READY_MS, initramfs_zstd_bytes: TARGET_ZSTD_BYTES, ratio_to_baseline: TARGET_RATIO },
      meets: { agent_ready: agentReady.median_ms <= TARGET_READY_MS, ratio: agentReady.median_ms / base <= TARGET_RATIO },
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function agentRss(realAgent: boolean, port: number, consoleText: () => string): Promise<number | undefined> {
  if (realAgent) {
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const m = /^cocos_agent_resident_memory_bytes\s+(\d+)/m.exec(metrics);
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  }
  // The stand-in has no /metrics: /init prints the agent's VmRSS (cocos_init.rss_after).
  for (let w = 0; w < 100 && !/VmRSS/.test(consoleText()); w++) await Bun.sleep(100);
  const m = /agent VmRSS: (\d+) kB/.exec(consoleText());
  return m ? Number(m[1]) : undefined;
}

if (import.meta.main) {
  const { writeResult } = await import("./main.ts");
  const result = await run();
  console.log(JSON.stringify(result, null, 2));
  console.log(`wrote ${writeResult("boot", result)}`);
}
