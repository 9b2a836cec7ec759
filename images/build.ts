// Offline, byte-reproducible guest image builder: `bun images/build.ts [options]`.
// Output (images/out/): vmlinux (PVH, uncompressed — the fastest boot under TCG), bzImage,
// initramfs.cpio (+ .zst), initramfs-busybox.cpio (bench baseline), the agent-disk layout
// (initramfs-disk.cpio + agent.disk, images/agent-disk.ts) and image.json.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { AGENT_DISK_MODULES, AGENT_DISK_MOUNT, buildAgentDisk, verityCmdline, type VerityParams } from "./agent-disk.ts";
import { type CpioEntry, writeCpio } from "./cpio.ts";
import { extractDeb, fetchDeb, kernelPackage } from "./debian.ts";
import { extractVmlinux, resolveModules, type KernelModule } from "./kernel.ts";
import { sandboxFiles, SANDBOX_TOOLS } from "./native-sandbox.ts";
import { ORT_GUEST_DIR, ortFiles, type OrtFiles } from "./onnxruntime.ts";
import { FLAVOURS, type Flavour, flavourFiles, initrdName } from "./flavours/index.ts";

const here = import.meta.dir;
const root = resolve(here, "..");

/** Modules the agent needs; dependencies are added from each module's .modinfo. */
export const WANTED_MODULES = ["virtio_pci", "virtio_console", "virtio_net", "vmw_vsock_virtio_transport", "sev_guest", "configfs"];
/** Present only on newer kernels (configfs-tsm arrived in 6.7). */
export const OPTIONAL_MODULES = ["tsm"];
export const GLIBC = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "ld-linux-x86-64.so.2"];
/** Boot command line (the manager appends cocos.* settings). Besides quiet: no TSC calibration or
 *  watchdog, no crypto self-tests, no i8042/PS2 probing, no block tracer — each measurable under TCG
 *  (bench/boot.ts; see images/README.md). */
export const DEFAULT_CMDLINE =
  "console=ttyS0 quiet panic=-1 tsc=reliable no_timer_check noreplace-smp cryptomgr.notests random.trust_cpu=on i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd initcall_blacklist=init_blk_tracer";
// 17: the bytecode agent needs it to keep the compressed initramfs under 50 MB (level 10: 52.5 MB).
export const ZSTD_LEVEL = 17;
/** The layout the manager boots by default (image.json's cmdline and measurement_inputs): the agent
 *  in the initramfs, or on the dm-verity disk beside a small initramfs (`--layout disk`). Under TCG
 *  the disk spares the 180 MB unpack but its first exec pays page-by-page reads and BLAKE2b checks of
 *  the ~40 MB the agent touches: in three bench runs (bench/boot.ts, images/README.md) neither won
 *  clearly, so the initramfs stays the default. */
export type BootLayout = "initramfs" | "disk";
export const DEFAULT_LAYOUT: BootLayout = "initramfs";
/** dmsetup opens the agent disk's verity device in /init (no CONFIG_DM_INIT in Debian's kernel). */
export const DISK_TOOLS = [{ pkg: "dmsetup", path: "sbin/dmsetup" }] as const;

export interface BuildOptions {
  agent?: string;
  out?: string;
  cache?: string;
  offline?: boolean;
  compress?: boolean;
  /** Seconds since the epoch written as every mtime; default SOURCE_DATE_EPOCH or 0. */
  mtime?: number;
  kernelMeta?: string;
  /** Default DEFAULT_LAYOUT. */
  layout?: BootLayout;
  /** ONNX Runtime for wasi-nn (images/onnxruntime.ts): its folder, or false for an image without it.
   *  Default COCOS_IMAGE_ORT or dist/onnxruntime. */
  ort?: string | false;
  /** Experiments and tests: more files in the initramfs (bench/boot.ts's start-up variants). */
  extraEntries?: CpioEntry[];
  /** minimal (default): Wasm and static binaries; full: also Python 3 and Podman (images/flavours/). */
  flavour?: Flavour;
  log?: (msg: string) => void;
}

export interface FileDigest {
  file: string;
  size: number;
  sha256: string;
  sha3_256: string;
}

/** What a launch measurement covers: the booted kernel and initrd plus the full command line. */
export interface MeasurementInputs {
  kernel: string;
  kernel_sha256: string;
  initrd: string;
  initrd_sha256: string;
  cmdline: string;
  /** The agent disk (disk layout): covered through the verity root hash on cmdline, listed for the manager. */
  disk?: string;
  disk_sha256?: string;
  note: string;
}

/** One flavour's initramfs: its files, the packages it adds to the minimal image's, its measurement. */
export interface FlavourManifest {
  initramfs: { cpio: FileDigest; zstd?: FileDigest & { level: number }; entries: number };
  packages: Record<string, string>;
  measurement_inputs: MeasurementInputs;
}

export interface ImageManifest {
  schema: "cocos-image/v1";
  kernel: { package: string; deb: string; version: string; vmlinux: FileDigest; bzImage: FileDigest };
  initramfs: { cpio: FileDigest; zstd?: FileDigest & { level: number }; entries: number };
  /** The agent and ONNX Runtime on an erofs + dm-verity disk, beside a small initramfs with the rest. */
  agent_disk: { initramfs: FileDigest; disk: FileDigest; fs: "erofs"; verity: VerityParams; modules: string[]; cmdline: string };
  /** Which layout cmdline and measurement_inputs describe (the manager's default). */
  layout: BootLayout;
  baseline: { cpio: FileDigest };
  agent: FileDigest;
  /** ONNX Runtime's files as placed in the initramfs; absent in a --no-nn image. */
  onnxruntime?: FileDigest[];
  packages: Record<string, string>;
  modules: string[];
  modules_missing: string[];
  cmdline: string;
  /** What a launch measurement covers: the booted kernel and initrd plus the full command line. */
  measurement_inputs: MeasurementInputs;
  /** Per flavour (the top-level initramfs/packages/measurement_inputs are the minimal one's). */
  flavours: Partial<Record<Flavour, FlavourManifest>>;
  mtime: number;
}

export function digest(file: string, data: Uint8Array): FileDigest {
  return {
    file,
    size: data.length,
    sha256: new Bun.CryptoHasher("sha256").update(data).digest("hex"),
    sha3_256: new Bun.CryptoHasher("sha3-256").update(data).digest("hex"),
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) out.set(c, (o += c.length) - c.length);
  return out;
}

function findIn(dir: string, candidates: string[]): Uint8Array {
  for (const c of candidates) {
    try {
      return new Uint8Array(readFileSync(join(dir, c)));
    } catch {}
  }
  throw new Error(`expected one of ${candidates.join(", ")} under ${dir}, found none`);
}

/** Busybox applets the image replaces with the real tool (busybox's setpriv lacks --bounding-set). */
const REPLACED_APPLETS = new Set(SANDBOX_TOOLS.map((t) => basename(t.path)));

/** Busybox binary plus one symlink per applet (from the binary's own --list-full). */
function busyboxEntries(bbRoot: string, replaced: ReadonlySet<string> = new Set()): CpioEntry[] {
  const bin = join(bbRoot, "bin/busybox");
  const r = Bun.spawnSync([bin, "--list-full"], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${bin} --list-full failed: ${r.stderr.toString()}`);
  const applets = r.stdout.toString().split("\n").filter((l) => l && l !== "bin/busybox" && l !== "linuxrc" && !replaced.has(basename(l)));
  return [
    { path: "bin/busybox", type: "file", data: new Uint8Array(readFileSync(bin)), mode: 0o755 },
    ...applets.map((a): CpioEntry => ({ path: a, type: "symlink", target: "/bin/busybox" })),
  ];
}

/** The dynamic loader where x86-64 binaries look for it (PT_INTERP), in both initramfs layouts. */
const LD_SO_LINK: CpioEntry = { path: "lib64/ld-linux-x86-64.so.2", type: "symlink", target: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" };

/** The modules' files and /etc/cocos/modules, the order /init loads them in. */
function moduleEntries(version: string, modules: KernelModule[]): CpioEntry[] {
  return [
    ...modules.map((m): CpioEntry => ({ path: `lib/modules/${version}/${m.rel}`, type: "file", data: m.data })),
    { path: "etc/cocos/modules", type: "file", data: new TextEncoder().encode(modules.map((m) => `${version}/${m.rel}\n`).join("")) },
  ];
}

function baseEntries(init: Uint8Array): CpioEntry[] {
  const enc = new TextEncoder();
  const etc = (p: string, s: string): CpioEntry => ({ path: `etc/${p}`, type: "file", data: enc.encode(s) });
  return [
    { path: "init", type: "file", data: init, mode: 0o755 },
    // The kernel opens /dev/console before /init runs, i.e. before devtmpfs is mounted.
    { path: "dev/console", type: "chardev", major: 5, minor: 1 },
    ...["proc", "sys", "tmp", "run", "root", "cocos", "mnt"].map((d): CpioEntry => ({ path: d, type: "dir" })),
    etc("passwd", "root:x:0:0:root:/root:/bin/sh\n"),
    etc("group", "root:x:0:\n"),
    etc("hosts", "127.0.0.1 localhost\n::1 localhost\n"),
    etc("hostname", "cocos\n"),
  ];
}

const MEASUREMENT_NOTE = "the manager appends per-VM cocos.* settings to cmdline; the measurement covers the full command line it passes";

/** What a launch measurement covers: kernel, initrd and the command line; with `disk` (the disk
 *  layout) its small initramfs and the command line carrying the disk's verity root hash. */
function measurementInputs(vmlinux: FileDigest, initrd: FileDigest, disk?: ImageManifest["agent_disk"]): MeasurementInputs {
  const kernel = { kernel: vmlinux.file, kernel_sha256: vmlinux.sha256 };
  if (!disk) return { ...kernel, initrd: initrd.file, initrd_sha256: initrd.sha256, cmdline: DEFAULT_CMDLINE, note: MEASUREMENT_NOTE };
  return {
    ...kernel,
    initrd: disk.initramfs.file,
    initrd_sha256: disk.initramfs.sha256,
    cmdline: disk.cmdline,
    disk: disk.disk.file,
    disk_sha256: disk.disk.sha256,
    note: `${MEASUREMENT_NOTE}; the disk is not hashed at launch: cocos_init.verity on cmdline pins its dm-verity root hash, checked by the guest on every read`,
  };
}

export async function buildImage(opts: BuildOptions = {}): Promise<ImageManifest> {
  const log = opts.log ?? ((m: string) => console.error(`[images] ${m}`));
  const out = resolve(opts.out ?? join(here, "out"));
  const cache = resolve(opts.cache ?? join(here, "cache"));
  const agentPath = resolve(opts.agent ?? process.env.COCOS_IMAGE_AGENT ?? join(root, "dist/cocos-agent"));
  const mtime = opts.mtime ?? Number(process.env.SOURCE_DATE_EPOCH ?? 0);
  const offline = opts.offline ?? false;
  const layout = opts.layout ?? DEFAULT_LAYOUT;
  mkdirSync(out, { recursive: true });

  let agent: Uint8Array;
  try {
    agent = new Uint8Array(readFileSync(agentPath));
  } catch {
    throw new Error(`expected the compiled agent at ${agentPath} (run \`bun run build\` or pass --agent), found nothing`);
  }

  const kpkg = kernelPackage(cache, opts.kernelMeta ?? "linux-image-amd64", offline);
  const kdeb = fetchDeb(cache, kpkg, offline);
  const libcDeb = fetchDeb(cache, "libc6", offline);
  const bbDeb = fetchDeb(cache, "busybox-static", offline);
  const kroot = extractDeb(cache, kdeb);
  const version = kpkg.replace(/^linux-image-/, "");
  log(`kernel ${kpkg} (${basename(kdeb)})`);

  const bzImage = new Uint8Array(readFileSync(join(kroot, `boot/vmlinuz-${version}`)));
  const vmlinux = extractVmlinux(bzImage);
  const modDir = join(kroot, "lib/modules", version);
  const { modules, missing } = resolveModules(modDir, WANTED_MODULES, OPTIONAL_MODULES);
  const diskModules = resolveModules(modDir, [...WANTED_MODULES, ...AGENT_DISK_MODULES], OPTIONAL_MODULES).modules;
  log(`modules: ${modules.map((m) => m.name).join(" ")}${missing.length ? ` (absent in this kernel: ${missing.join(" ")})` : ""}`);

  const libcRoot = extractDeb(cache, libcDeb);
  const libs = GLIBC.map((l): CpioEntry => ({
    path: `lib/x86_64-linux-gnu/${l}`,
    type: "file",
    data: findIn(libcRoot, [`lib/x86_64-linux-gnu/${l}`, `usr/lib/x86_64-linux-gnu/${l}`]),
    mode: 0o755,
  }));
  const bbRoot = extractDeb(cache, bbDeb);
  const busybox = busyboxEntries(bbRoot, REPLACED_APPLETS);
  const ortDir = opts.ort ?? process.env.COCOS_IMAGE_ORT ?? join(root, "dist/onnxruntime");
  const ort: OrtFiles = ortDir === false ? { entries: [], needed: [] } : ortFiles(resolve(ortDir));
  // The native-algorithm sandbox (bwrap, setpriv, prlimit; runtime/sandbox) and every library it and ORT need.
  const sandbox = sandboxFiles(cache, offline, GLIBC, ort.needed);
  const init = new Uint8Array(readFileSync(join(here, "init.sh")));
  const enc = new TextEncoder();

  const entries: CpioEntry[] = [
    ...baseEntries(init),
    ...busybox,
    ...libs,
    ...sandbox.entries,
    ...ort.entries,
    LD_SO_LINK,
    ...moduleEntries(version, modules),
    { path: "bin/cocos-agent", type: "file", data: agent, mode: 0o755 },
    ...(opts.extraEntries ?? []),
  ];
  const cpio = concat(writeCpio(entries, mtime));
  const flavour = opts.flavour ?? "minimal";
  const extra = flavour === "minimal" ? null : flavourFiles(flavour, cache, offline, entries);

  // Disk layout: the agent and ONNX Runtime on the verity disk, everything else in a small initramfs
  // whose /bin/cocos-agent and /bin/onnxruntime point into the disk's mount.
  const disk = buildAgentDisk(
    [{ path: "cocos-agent", data: agent, mode: 0o755 }, ...ort.entries.map((e) => ({ path: e.path.replace(/^bin\//, ""), data: e.data, mode: e.mode ?? 0o644 }))],
    mtime,
  );
  const diskSandbox = sandboxFiles(cache, offline, GLIBC, ort.needed, [...SANDBOX_TOOLS, ...DISK_TOOLS]);
  const diskEntries: CpioEntry[] = [
    ...baseEntries(init),
    { path: AGENT_DISK_MOUNT.slice(1), type: "dir" },
    ...busybox,
    ...libs,
    ...diskSandbox.entries,
    LD_SO_LINK,
    ...moduleEntries(version, diskModules),
    { path: "bin/cocos-agent", type: "symlink", target: `${AGENT_DISK_MOUNT}/cocos-agent` },
    ...(ort.entries.length ? [{ path: ORT_GUEST_DIR, type: "symlink", target: `${AGENT_DISK_MOUNT}/onnxruntime` } as CpioEntry] : []),
  ];
  const diskCpio = concat(writeCpio(diskEntries, mtime));
  const diskCmdline = `${DEFAULT_CMDLINE} ${verityCmdline(disk.verity)}`;

  // Baseline for bench/boot.ts: same kernel, busybox only, prints a marker and powers off.
  const marker = enc.encode(
    "#!/bin/sh\nmount -t proc proc /proc\necho \"COCOS-BASELINE-READY uptime $(cut -d' ' -f1 /proc/uptime)\" > /dev/console\npoweroff -f\n",
  );
  const baseline = concat(writeCpio([...baseEntries(marker), ...busyboxEntries(bbRoot)], mtime));

  const write = (name: string, data: Uint8Array) => {
    const tmp = join(out, `.${name}.tmp`);
    writeFileSync(tmp, data);
    renameSync(tmp, join(out, name));
    return digest(name, data);
  };
  /** A flavour's initramfs written out, with its zstd copy unless --no-compress. */
  const initramfsOf = (name: string, data: Uint8Array, count: number): FlavourManifest["initramfs"] => {
    const written: FlavourManifest["initramfs"] = { cpio: write(name, data), entries: count };
    if (opts.compress ?? true) {
      log(`zstd -${ZSTD_LEVEL} of ${data.length} bytes`);
      written.zstd = { ...write(`${name}.zst`, Bun.zstdCompressSync(data, { level: ZSTD_LEVEL })), level: ZSTD_LEVEL };
    } else {
      rmSync(join(out, `${name}.zst`), { force: true }); // would no longer match the cpio
    }
    return written;
  };
  const kernel = { package: kpkg, deb: basename(kdeb), version, vmlinux: write("vmlinux", vmlinux), bzImage: write("bzImage", bzImage) };
  const initramfs = initramfsOf("initramfs.cpio", cpio, entries.length);
  const packages = { kernel: basename(kdeb), libc6: basename(libcDeb), "busybox-static": basename(bbDeb), ...sandbox.packages, ...diskSandbox.packages };
  const agentDisk: ImageManifest["agent_disk"] = {
    initramfs: write("initramfs-disk.cpio", diskCpio),
    disk: write("agent.disk", disk.image),
    fs: "erofs",
    verity: disk.verity,
    modules: diskModules.map((m) => m.name),
    cmdline: diskCmdline,
  };
  // The minimal flavour boots in the chosen layout; the others carry the agent in their initramfs.
  const minimal: FlavourManifest = { initramfs, packages, measurement_inputs: measurementInputs(kernel.vmlinux, initramfs.cpio, layout === "disk" ? agentDisk : undefined) };
  const manifest: ImageManifest = {
    schema: "cocos-image/v1",
    kernel,
    initramfs,
    agent_disk: agentDisk,
    layout,
    baseline: { cpio: write("initramfs-busybox.cpio", baseline) },
    agent: digest(basename(agentPath), agent),
    ...(ort.entries.length ? { onnxruntime: ort.entries.map((e) => digest(e.path, e.data)) } : {}),
    packages,
    modules: modules.map((m) => m.name),
    modules_missing: missing,
    cmdline: minimal.measurement_inputs.cmdline,
    measurement_inputs: minimal.measurement_inputs,
    flavours: { minimal },
    mtime,
  };
  for (const f of FLAVOURS) {
    if (f === "minimal" || f === flavour) continue;
    // A build without this flavour must not leave files image.json no longer describes.
    for (const suffix of ["", ".zst"]) rmSync(join(out, `${initrdName(f)}${suffix}`), { force: true });
  }
  if (extra) {
    const all = [...entries, ...extra.entries];
    const f = initramfsOf(initrdName(flavour), concat(writeCpio(all, mtime)), all.length);
    manifest.flavours[flavour] = { initramfs: f, packages: { ...packages, ...extra.packages }, measurement_inputs: measurementInputs(kernel.vmlinux, f.cpio) };
    log(`${flavour} flavour: initramfs ${f.cpio.size} bytes${f.zstd ? `, zstd ${f.zstd.size}` : ""}`);
  }
  await Bun.write(join(out, "image.json"), JSON.stringify(manifest, null, 2) + "\n");
  log(`initramfs ${cpio.length} bytes${manifest.initramfs.zstd ? `, zstd ${manifest.initramfs.zstd.size}` : ""}; wrote ${out}/image.json`);
  return manifest;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      agent: { type: "string" },
      out: { type: "string" },
      cache: { type: "string" },
      offline: { type: "boolean", default: false },
      "no-compress": { type: "boolean", default: false },
      // An image without ONNX Runtime (no wasi-nn in the guest), about 14 MB smaller compressed.
      "no-nn": { type: "boolean", default: false },
      // minimal (default) or full (+ Python 3 and Podman; images/flavours/).
      flavour: { type: "string", default: "minimal" },
      // initramfs | disk: the layout image.json's cmdline and measurement describe (default DEFAULT_LAYOUT)
      layout: { type: "string" },
    },
  });
  if (values.layout !== undefined && values.layout !== "initramfs" && values.layout !== "disk") {
    console.error(`images: --layout: expected initramfs or disk, got ${JSON.stringify(values.layout)}`);
    process.exit(2);
  }
  const flavour = values.flavour as Flavour;
  if (!FLAVOURS.includes(flavour)) {
    console.error(`images: --flavour: expected one of ${FLAVOURS.join(", ")}, got ${JSON.stringify(values.flavour)}`);
    process.exit(2);
  }
  const ort = values["no-nn"] ? false : undefined;
  buildImage({ agent: values.agent, out: values.out, cache: values.cache, offline: values.offline, compress: !values["no-compress"], ort, flavour, layout: values.layout as BootLayout | undefined }).catch((e) => {
    console.error(`images: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  });
}
