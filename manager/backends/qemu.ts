// Backend "qemu": every computation in its own QEMU VM booted from the guest image (kernel +
// initramfs), the agent's port forwarded from a free host port, host channels on virtio-serial
// ports backed by Unix sockets (or vhost-vsock where the host has it). QEMU runs detached with its
// output and the guest console in files, so it outlives a manager restart and is re-adopted by pid.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  Listeners,
  VmNotFoundError,
  pidAlive,
  type ChannelPaths,
  type StopOptions,
  type VmBackend,
  type VmExit,
  type VmInfo,
  type VmOutput,
  type VmStartSpec,
} from "../backend.ts";
import { measureLaunch } from "../measurement.ts";
import { freePortInRange } from "../ports.ts";
import { qmpCommand } from "./qmp.ts";
import { agentEnvToCmdline, buildQemuArgs, flavourFor, checkArgv, checkKernelCmdline, loadQemuConfig, VSOCK_PORTS, type QemuConfig, type VmLaunch } from "./qemu-config.ts";
import { FileTail } from "./tail.ts";
import { readTail, removeVmWorkDir, VmProcessTable, type TrackedVm } from "./tracked.ts";

export interface QemuBackendOptions {
  /** Parent of the per-VM directories (sockets, console and QEMU logs). */
  vmsDir: string;
  /** Default: loadQemuConfig(process.env). */
  config?: QemuConfig;
  /** How long QEMU may take to finish machine set-up (QMP answering). */
  startTimeoutMs?: number;
  /** How often adopted (non-child) pids are polled for liveness. */
  pollMs?: number;
  /** Guest CIDs tried from MANAGER_QEMU_VSOCK_GUEST_CID upwards. */
  cidCount?: number;
  /** PATH used to find QEMU (tests). */
  path?: string;
}

/** What the QEMU backend keeps in VmInfo.extra (persisted, needed after a restart). */
export interface QemuExtra {
  argv: string[];
  accel: string;
  channel: string;
  guestCid?: number;
  /** Host port of the agent's HTTP /health and /metrics, when MANAGER_QEMU_GUEST_FWD_HTTP is set. */
  httpPort?: number;
  qmpSocket: string;
  serialLog: string;
  kernel: string;
  initrd: string;
  /** The agent disk attached read-only (its dm-verity root hash is on cmdline, hence measured). */
  disk?: string;
  cmdline: string;
  firmware?: string;
  kernelSha256: string;
  initrdSha256: string;
  /** Hex sim launch measurement (manager/measurement.ts) of this launch. */
  measurement: string;
}

interface Tracked extends TrackedVm {
  tails: FileTail[];
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Absolute path of an executable, or undefined. */
function which(bin: string, path?: string): string | undefined {
  if (bin.includes("/")) return existsSync(bin) && statSync(bin).isFile() ? resolve(bin) : undefined;
  return Bun.which(bin, path !== undefined ? { PATH: path } : undefined) ?? undefined;
}

function needFile(path: string, what: string, envName: string, hint = "build the guest image with `bun run images`"): void {
  if (!existsSync(path) || !statSync(path).isFile()) throw new Error(`${what} not found: expected a file at ${path} (${envName}); ${hint}`);
}

/** The command that builds a flavour's image. */
export function buildCommand(flavour: QemuConfig["imageFlavour"]): string {
  return flavour === "minimal" ? "bun run images" : `bun run images -- --flavour ${flavour}`;
}

export class QemuBackend implements VmBackend {
  readonly name = "qemu";
  readonly config: QemuConfig;
  private vms = new VmProcessTable<Tracked>({ stop: (id) => this.stop(id), finish: (t, code, sig) => this.finish(t, code, sig) });
  private exits = new Listeners<VmExit>();
  private outputs = new Listeners<VmOutput>();

  constructor(private readonly opts: QemuBackendOptions) {
    this.config = opts.config ?? loadQemuConfig();
  }

  list(): VmInfo[] {
    return this.vms.list();
  }
  onExit(listener: (exit: VmExit) => void): void {
    this.exits.add(listener);
  }
  onOutput(listener: (out: VmOutput) => void): void {
    this.outputs.add(listener);
  }

  /**
   * The configuration one VM boots with: the image flavour its algorithm type needs (python and
   * docker: full), unless MANAGER_QEMU_IMAGE_FLAVOUR or an explicit initramfs fixes one for all.
   */
  configFor(spec: Pick<VmStartSpec, "algoType">): QemuConfig {
    const c = this.config;
    if (!c.flavourFromAlgoType) return c;
    const flavour = flavourFor(spec.algoType);
    return flavour === c.imageFlavour ? c : { ...c, imageFlavour: flavour, ...c.images[flavour] };
  }

  /** Checks everything that does not need a VM: QEMU, kernel, initrd, firmware. */
  preflight(c: QemuConfig = this.config): { exe: string; qemu: string } {
    const qemu = which(c.binPath, this.opts.path);
    if (!qemu)
      throw new Error(`QEMU not found: expected the executable ${JSON.stringify(c.binPath)} (MANAGER_QEMU_BIN_PATH) on PATH=${this.opts.path ?? process.env.PATH ?? ""}; install qemu-system-x86 or set MANAGER_QEMU_BIN_PATH`);
    let exe = qemu;
    if (c.useSudo) {
      const sudo = which("sudo", this.opts.path);
      if (!sudo) throw new Error("MANAGER_QEMU_USE_SUDO=true but no sudo on PATH");
      exe = sudo;
    }
    needFile(c.kernelFile, "guest kernel", "MANAGER_QEMU_DISK_IMG_KERNEL_FILE");
    needFile(c.initrdFile, "guest initramfs", `MANAGER_QEMU_DISK_IMG_ROOTFS_FILE, MANAGER_QEMU_IMAGE_FLAVOUR=${c.imageFlavour}`, `build the guest image with \`${buildCommand(c.imageFlavour)}\``);
    if (c.agentDiskFile) needFile(c.agentDiskFile, "guest agent disk", "MANAGER_QEMU_DISK_IMG_AGENT_FILE", "build the guest image with `bun run images`, or set it to none for an image with the agent in its initramfs");
    if (c.firmware === "none" && c.bios) needFile(c.bios, "guest firmware", "MANAGER_QEMU_BIOS", "set MANAGER_QEMU_BIOS=seabios for QEMU's default");
    if (c.firmware === "ovmf") needFile(c.ovmfCode.file, "OVMF firmware", "MANAGER_QEMU_OVMF_CODE_FILE");
    if (c.firmware === "ovmf" && !c.enableSevSnp) needFile(c.ovmfVars.file, "OVMF variable store", "MANAGER_QEMU_OVMF_VARS_FILE");
    return { exe, qemu };
  }

  private freeCid(): number {
    const taken = new Set(this.list().map((i) => (i.extra as QemuExtra | undefined)?.guestCid));
    const base = this.config.vsockGuestCid;
    const count = this.opts.cidCount ?? 1024;
    for (let cid = base; cid < base + count; cid++) if (!taken.has(cid)) return cid;
    throw new Error(`no free vsock guest CID in ${base}-${base + count - 1} (${taken.size} VMs hold one)`);
  }

  /** Launch plan of one VM: everything but the process. Exposed for tests and dry runs. */
  async plan(spec: VmStartSpec, id: string, workDir: string): Promise<{ launch: VmLaunch; args: string[]; channelPaths: ChannelPaths; extraEnv: Record<string, string> }> {
    const c = this.configFor(spec);
    if (spec.manifestHash.length !== 32) throw new Error(`manifest hash: expected 32 bytes (SHA3-256), got ${spec.manifestHash.length}`);
    const taken = new Set(this.list().flatMap((i) => [i.agentPort, (i.extra as QemuExtra | undefined)?.httpPort ?? 0]));
    const hostPort = spec.agentPort ?? (await freePortInRange(c.hostFwdRange, taken));
    taken.add(hostPort);
    const httpHostPort = c.guestFwdHttp ? await freePortInRange(c.hostFwdRange, taken) : undefined;
    const uuid = id.replace(/^qemu-/, "");
    const sockets = { manifest: join(workDir, "manifest.sock"), events: join(workDir, "events.sock") };
    const qmpSocket = join(workDir, "qmp.sock");
    for (const p of [...Object.values(sockets), qmpSocket])
      if (Buffer.byteLength(p) > 100) throw new Error(`socket path too long (${Buffer.byteLength(p)} > 100 bytes): ${p}; use a shorter MANAGER_STATE_DIR`);
    const guestCid = c.channel === "vsock" ? this.freeCid() : undefined;
    const extraEnv: Record<string, string> = {
      AGENT_GRPC_HOST: "0.0.0.0",
      AGENT_GRPC_PORT: String(c.guestFwdAgent),
      AGENT_HOST_CHANNEL: c.channel,
      AGENT_COMPUTATION_ID: spec.computationId,
    };
    // Without SEV-SNP the guest has no secure processor: the manager answers its report requests
    // (manager/sim-attestation.ts) with the measurement and host data of this launch.
    if (!c.enableSevSnp && !spec.agentEnv.AGENT_ATTESTATION) extraEnv.AGENT_ATTESTATION = "host";
    if (c.guestFwdHttp) Object.assign(extraEnv, { AGENT_HTTP_HOST: "0.0.0.0", AGENT_HTTP_PORT: String(c.guestFwdHttp) });
    const settings = agentEnvToCmdline({ ...spec.agentEnv, ...extraEnv });
    const launch: VmLaunch = {
      uuid,
      hostPort,
      httpHostPort,
      cmdline: settings ? `${c.kernelCmdline} ${settings}` : c.kernelCmdline,
      serialLog: join(workDir, "console.log"),
      qmpSocket,
      sockets: c.channel === "virtio-serial" ? sockets : undefined,
      guestCid,
      hostDataB64: Buffer.from(spec.manifestHash).toString("base64"),
      ovmfVarsCopy: c.firmware === "ovmf" && !c.enableSevSnp ? join(workDir, "OVMF_VARS.fd") : undefined,
    };
    const channelPaths: ChannelPaths =
      c.channel === "vsock"
        ? { manifest: `vsock:${guestCid}:${VSOCK_PORTS.manifest}`, events: `vsock:2:${VSOCK_PORTS.events}` }
        : sockets;
    checkKernelCmdline(launch.cmdline);
    const args = buildQemuArgs(c, launch);
    checkArgv(args);
    return { launch, args, channelPaths, extraEnv };
  }

  async start(spec: VmStartSpec): Promise<VmInfo> {
    const c = this.configFor(spec);
    const { exe, qemu } = this.preflight(c);
    // Short ids keep the per-VM socket paths well inside the 108-byte Unix socket limit.
    const id = `qemu-${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
    const workDir = join(resolve(this.opts.vmsDir), id);
    mkdirSync(workDir, { recursive: true });
    let child: ChildProcess | undefined;
    try {
      const { launch, args, channelPaths } = await this.plan(spec, id, workDir);
      const firmware = c.firmware === "ovmf" ? c.ovmfCode.file : undefined;
      const { measurement, digests } = await measureLaunch({ kernel: c.kernelFile, initrd: c.initrdFile, cmdline: launch.cmdline, firmware });
      if (launch.ovmfVarsCopy) copyFileSync(c.ovmfVars.file, launch.ovmfVarsCopy);
      const argv = c.useSudo ? [exe, qemu, ...args] : [qemu, ...args];
      const out = openSync(join(workDir, "qemu.stdout.log"), "a");
      const err = openSync(join(workDir, "qemu.stderr.log"), "a");
      try {
        child = spawn(argv[0]!, argv.slice(1), { cwd: workDir, stdio: ["ignore", out, err], detached: true });
      } finally {
        closeSync(out);
        closeSync(err);
      }
      const proc = child;
      const pid = await new Promise<number>((res, rej) => {
        proc.once("error", (e) => rej(new Error(`could not start QEMU (${argv[0]}): ${e.message}`)));
        proc.once("spawn", () => res(proc.pid!));
      });
      await this.waitReady(proc, launch.qmpSocket, workDir);
      child.unref();
      const extra: QemuExtra = {
        argv,
        accel: c.accel,
        channel: c.channel,
        guestCid: launch.guestCid,
        httpPort: launch.httpHostPort,
        qmpSocket: launch.qmpSocket,
        serialLog: launch.serialLog,
        kernel: c.kernelFile,
        initrd: c.initrdFile,
        ...(c.agentDiskFile ? { disk: c.agentDiskFile } : {}),
        cmdline: launch.cmdline,
        firmware,
        kernelSha256: hex(digests.kernelSha256),
        initrdSha256: hex(digests.initrdSha256),
        measurement: hex(measurement),
      };
      const info: VmInfo = {
        id,
        backend: this.name,
        computationId: spec.computationId,
        agentPort: launch.hostPort,
        pid,
        channelPaths,
        workDir,
        manifestHash: hex(spec.manifestHash),
        startedAt: new Date().toISOString(),
        expiresAt: spec.ttlMs ? Date.now() + spec.ttlMs : undefined,
        extra: extra as unknown as Record<string, unknown>,
      };
      const t = this.track(info, child, false);
      child.once("exit", (code, signal) => this.finish(t, code, signal));
      return info;
    } catch (e) {
      if (child?.pid && child.exitCode === null) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {}
        await new Promise((r) => (child!.exitCode !== null || child!.signalCode !== null ? r(null) : child!.once("exit", r)));
      }
      rmSync(workDir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Resolves once QMP answers (machine set up, devices realised); rejects when QEMU exits first. */
  private async waitReady(child: ChildProcess, qmpSocket: string, workDir: string): Promise<void> {
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 30_000);
    let exited = false;
    child.once("exit", () => (exited = true));
    let lastErr = "";
    while (Date.now() < deadline) {
      if (exited || child.exitCode !== null || child.signalCode !== null) {
        const stderr = readTail(join(workDir, "qemu.stderr.log"), 2000);
        throw new Error(`QEMU exited during start-up (status ${child.exitCode ?? child.signalCode}): ${stderr || "no output"}`);
      }
      if (existsSync(qmpSocket)) {
        try {
          await qmpCommand(qmpSocket, "query-status", 2000);
          return;
        } catch (e) {
          lastErr = (e as Error).message;
        }
      }
      await Bun.sleep(50);
    }
    throw new Error(`QEMU did not finish start-up within ${this.opts.startTimeoutMs ?? 30_000} ms${lastErr ? ` (${lastErr})` : ""}`);
  }

  async adopt(saved: VmInfo): Promise<boolean> {
    if (saved.backend !== this.name) return false;
    if (this.vms.has(saved.id)) return true;
    const extra = saved.extra as unknown as QemuExtra | undefined;
    // A reused pid must not be mistaken for our VM: its command line names our QMP socket.
    if (!pidAlive(saved.pid) || !extra?.qmpSocket || !readCmdline(saved.pid).includes(extra.qmpSocket)) {
      removeVmWorkDir(this.opts.vmsDir, saved);
      return false;
    }
    this.vms.watchPid(this.track(saved, undefined, true), this.opts.pollMs ?? 1000);
    return true;
  }

  async stop(id: string, opts: StopOptions = {}): Promise<void> {
    const t = this.vms.get(id);
    if (!t) throw new VmNotFoundError(id);
    await this.vms.terminate(t, opts.graceMs ?? 30_000, (sig) => signal(t.info.pid, sig));
  }

  detachAll(): void {
    this.vms.detachAll((t) => t.tails.forEach((tail) => tail.stop()));
  }

  private track(info: VmInfo, child: ChildProcess | undefined, adopted: boolean): Tracked {
    const extra = info.extra as unknown as QemuExtra;
    // The firmware paints the serial console with terminal escapes; logs want plain text.
    const emit = (stream: "stdout" | "stderr") => (text: string) => {
      const plain = text.replace(/\x1b(\[[0-9;?]*[A-Za-z]|c)/g, "");
      if (plain.trim()) this.outputs.emit({ info, stream, text: plain });
    };
    // After a restart only new output is relayed; what came before was relayed by the last manager.
    const tails = [
      new FileTail(extra.serialLog, emit("stdout"), adopted).start(),
      new FileTail(join(info.workDir, "qemu.stdout.log"), emit("stdout"), adopted).start(),
      new FileTail(join(info.workDir, "qemu.stderr.log"), emit("stderr"), adopted).start(),
    ];
    return this.vms.track(info, child, (base) => ({ ...base, tails }));
  }

  private finish(t: Tracked, code: number | null, sig: string | null): void {
    if (!this.vms.release(t)) return;
    for (const tail of t.tails) tail.stop();
    removeVmWorkDir(this.opts.vmsDir, t.info);
    this.exits.emit({ info: t.info, code, signal: sig, requested: t.stopping });
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}
