// Backend "process": the agent runs as a local child process — the embedded default on a machine
// without a guest image. Each VM gets its own directory (agent working dir, channel sockets, stdio
// logs) and a free TCP port. The agent is started detached with stdio in files, so it outlives a
// manager restart and can be re-adopted by pid.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
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
import { ephemeralPort } from "../ports.ts";
import { readTail, removeVmWorkDir, VmProcessTable, type TrackedVm } from "./tracked.ts";

export interface ProcessBackendOptions {
  /** Parent of the per-VM directories (default: <stateDir>/vms). */
  vmsDir: string;
  /** argv of the agent; default from agentCommand(). */
  agentArgv?: string[];
  /** Host the agent's gRPC server binds (default 127.0.0.1). */
  agentHost?: string;
  /** How often adopted (non-child) pids are polled for liveness. */
  pollMs?: number;
}

/**
 * The agent to run: $MANAGER_AGENT_BIN (a path, or a command line split on spaces), else a compiled
 * cocos-agent next to this binary or in dist/, else `bun agent/main.ts` from the source tree.
 */
export function agentCommand(env: Record<string, string | undefined> = process.env): string[] {
  const configured = env.MANAGER_AGENT_BIN?.trim();
  if (configured) return configured.split(/\s+/);
  const repoRoot = resolve(import.meta.dir, "..", "..");
  const underBun = /^bun(\.exe)?$/.test(basename(process.execPath));
  // A compiled cocos-manager looks next to itself; under `bun` the repo's dist/ is the place.
  const candidates = [...(underBun ? [] : [join(dirname(process.execPath), "cocos-agent")]), join(repoRoot, "dist", "cocos-agent")];
  for (const c of candidates) if (existsSync(c) && statSync(c).isFile()) return [c];
  const src = join(repoRoot, "agent", "main.ts");
  if (existsSync(src)) return [underBun ? process.execPath : "bun", src];
  throw new Error(
    `no agent found: set MANAGER_AGENT_BIN, build dist/cocos-agent (bun run build), or run from the source tree (looked for ${candidates.join(", ")}, ${src})`,
  );
}

/** Environment telling the agent where its host channels and gRPC port are. */
export function agentProcessEnv(spec: VmStartSpec, port: number, host: string, channels: ChannelPaths): Record<string, string> {
  return {
    ...spec.agentEnv,
    AGENT_GRPC_HOST: host,
    AGENT_GRPC_PORT: String(port),
    AGENT_HOST_CHANNEL: "unix",
    AGENT_MANIFEST_SOCKET: channels.manifest,
    AGENT_EVENTS_SOCKET: channels.events,
    AGENT_COMPUTATION_ID: spec.computationId,
  };
}

export class ProcessBackend implements VmBackend {
  readonly name = "process";
  private vms = new VmProcessTable<TrackedVm>({ stop: (id) => this.stop(id), finish: (t, code, sig) => this.finish(t, code, sig) });
  private exits = new Listeners<VmExit>();
  private outputs = new Listeners<VmOutput>();

  constructor(private readonly opts: ProcessBackendOptions) {}

  list(): VmInfo[] {
    return this.vms.list();
  }
  onExit(listener: (exit: VmExit) => void): void {
    this.exits.add(listener);
  }
  onOutput(listener: (out: VmOutput) => void): void {
    this.outputs.add(listener);
  }

  async start(spec: VmStartSpec): Promise<VmInfo> {
    const argv = this.opts.agentArgv ?? agentCommand();
    const id = `${this.name}-${crypto.randomUUID()}`;
    const workDir = join(resolve(this.opts.vmsDir), id);
    const agentDir = join(workDir, "agent");
    mkdirSync(agentDir, { recursive: true });
    // Unix socket paths are limited to ~107 bytes; keep them short and say so when too long.
    const channels: ChannelPaths = { manifest: join(workDir, "manifest.sock"), events: join(workDir, "events.sock") };
    for (const p of Object.values(channels)) {
      if (Buffer.byteLength(p) > 100) throw new Error(`host-channel socket path too long (${Buffer.byteLength(p)} > 100 bytes): ${p}; use a shorter MANAGER_STATE_DIR`);
    }
    const host = this.opts.agentHost ?? "127.0.0.1";
    const port = spec.agentPort ?? (await ephemeralPort(host));
    const out = openSync(join(workDir, "agent.stdout.log"), "a");
    const err = openSync(join(workDir, "agent.stderr.log"), "a");
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        cwd: agentDir,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? agentDir, ...agentProcessEnv(spec, port, host, channels) },
        stdio: ["ignore", out, err],
        detached: true,
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    const pid = await new Promise<number>((res, rej) => {
      child.once("error", (e) => rej(new Error(`could not start the agent (${argv.join(" ")}): ${e.message}`)));
      child.once("spawn", () => res(child.pid!));
    });
    child.unref();
    const info: VmInfo = {
      id,
      backend: this.name,
      computationId: spec.computationId,
      agentPort: port,
      pid,
      channelPaths: channels,
      workDir,
      manifestHash: Buffer.from(spec.manifestHash).toString("hex"),
      startedAt: new Date().toISOString(),
      expiresAt: spec.ttlMs ? Date.now() + spec.ttlMs : undefined,
      extra: { argv, measurement: programMeasurement(argv) },
    };
    const t = this.vms.track(info, child, (b) => b);
    child.once("exit", (code, signal) => this.finish(t, code, signal));
    return info;
  }

  async adopt(saved: VmInfo): Promise<boolean> {
    if (saved.backend !== this.name) return false;
    if (!pidAlive(saved.pid)) {
      this.removeWorkDir(saved);
      return false;
    }
    if (this.vms.has(saved.id)) return true;
    this.vms.watchPid(this.vms.track(saved, undefined, (b) => b), this.opts.pollMs ?? 1000);
    return true;
  }

  async stop(id: string, opts: StopOptions = {}): Promise<void> {
    const t = this.vms.get(id);
    if (!t) throw new VmNotFoundError(id);
    // The agent leads its own process group (detached): signal the group so its runners die too.
    await this.vms.terminate(t, opts.graceMs ?? 30_000, (sig) => signalGroup(t.info.pid, sig));
  }

  detachAll(): void {
    this.vms.detachAll();
  }

  private removeWorkDir(info: VmInfo): void {
    removeVmWorkDir(this.opts.vmsDir, info);
  }

  private finish(t: TrackedVm, code: number | null, signal: string | null): void {
    if (!this.vms.release(t)) return;
    if (!t.stopping && code !== 0) {
      const tail = readTail(join(t.info.workDir, "agent.stderr.log"), 2048);
      if (tail) this.outputs.emit({ info: t.info, stream: "stderr", text: tail });
    }
    // Nothing of a computation outlives it on the host: its uploads, results and logs go with the VM.
    this.removeWorkDir(t.info);
    this.exits.emit({ info: t.info, code, signal, requested: t.stopping });
  }
}

const measured = new Map<string, string>();

/**
 * The process backend's stand-in for a launch measurement: SHA-384 over the bytes of every file in
 * the agent's command line (the compiled agent; or bun and agent/main.ts). It names the program that
 * was started, nothing more — no hardware measured anything — and is what the manager's sim secure
 * processor puts into MEASUREMENT.
 */
export function programMeasurement(argv: string[]): string {
  const files = argv.filter((a) => existsSync(a) && statSync(a).isFile());
  const key = files.map((f) => `${f}:${statSync(f).size}:${statSync(f).mtimeMs}`).join("|");
  const hit = measured.get(key);
  if (hit) return hit;
  const h = new Bun.CryptoHasher("sha384");
  for (const f of files) h.update(readFileSync(f));
  const hex = h.digest("hex");
  measured.set(key, hex);
  return hex;
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}
