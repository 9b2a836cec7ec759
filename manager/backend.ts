// The contract every VM backend (process, qemu) implements. The manager owns the computations-server
// stream, the manifest checks, the host channels and the state directory; a backend only boots and
// stops "VMs" and tells where their host-channel sockets and agent port are.

/** What the manager asks a backend to boot for one computation. */
export interface VmStartSpec {
  computationId: string;
  /** Canonical manifest JSON (protocol/manifest.ts manifestToJSON) — what the guest receives. */
  manifestJson: Uint8Array;
  /** SHA3-256 of manifestJson (32 bytes): SEV-SNP HOST_DATA, sim host_data, boot check. */
  manifestHash: Uint8Array;
  /** Environment for the agent (AGENT_LOG_LEVEL, AGENT_GRPC_ATTESTED_TLS, …). The backend adds
   *  AGENT_GRPC_PORT/HOST and the channel settings itself; qemu passes these on the kernel cmdline. */
  agentEnv: Record<string, string>;
  /** Host port to forward to the agent; the backend picks a free one when absent. */
  agentPort?: number;
  /** Stop the VM automatically after this long (ms); 0/absent = no TTL. */
  ttlMs?: number;
  /** The manifest's algorithm type when it names one (Cocos v0.9+): the qemu backend picks the image flavour by it. */
  algoType?: string;
}

/** Unix-socket paths on the host for the two host↔guest channels. The manager dials both (the
 *  guest side — agent process or QEMU chardev — listens), so the manager can re-dial after a restart. */
export interface ChannelPaths {
  /** manifest ↓ (one framed message: the canonical manifest JSON). */
  manifest: string;
  /** events/logs ↑ (framed events.EventsLogs protobufs). */
  events: string;
}

/** Everything needed to find, stop and re-adopt a VM; stored as JSON in the state dir. */
export interface VmInfo {
  /** Backend-unique VM id (also the state file name). */
  id: string;
  backend: string;
  computationId: string;
  /** Host TCP port on which the agent's gRPC server is reachable. */
  agentPort: number;
  /** Pid of the agent process (process backend) or QEMU (qemu backend). */
  pid: number;
  channelPaths: ChannelPaths;
  /** Per-VM directory owned by the backend (work dir, sockets, logs). */
  workDir: string;
  /** Lowercase hex SHA3-256 of the manifest the VM was launched with. */
  manifestHash: string;
  /** ISO-8601 start time. */
  startedAt: string;
  /** Absolute expiry time in ms since epoch when a TTL was set. */
  expiresAt?: number;
  /** Backend-specific data (qemu argv, guest CID, …); must be JSON-serialisable. */
  extra?: Record<string, unknown>;
}

export interface VmExit {
  info: VmInfo;
  code: number | null;
  signal: string | null;
  /** True when the manager asked for the stop (no "Stopped" warning then). */
  requested: boolean;
}

/** Backend output the manager turns into logs/events (QEMU stdout/stderr, agent stdio). */
export interface VmOutput {
  info: VmInfo;
  stream: "stdout" | "stderr";
  text: string;
}

export interface StopOptions {
  /** SIGTERM → wait this long → SIGKILL (default 30 s as the original). */
  graceMs?: number;
}

export interface VmBackend {
  readonly name: string;
  /** Boots the VM; resolves once the process runs and its channel sockets are expected to appear. */
  start(spec: VmStartSpec): Promise<VmInfo>;
  /** Stops a VM this backend started or adopted; unknown id → throws VmNotFoundError. */
  stop(id: string, opts?: StopOptions): Promise<void>;
  /** Re-attaches to a VM after a manager restart; false when it is gone (caller drops its state). */
  adopt(saved: VmInfo): Promise<boolean>;
  /** VMs currently tracked. */
  list(): VmInfo[];
  onExit(listener: (exit: VmExit) => void): void;
  onOutput(listener: (out: VmOutput) => void): void;
  /** Forget every VM without stopping it (manager shutdown: VMs outlive the manager). */
  detachAll(): void;
}

export class VmNotFoundError extends Error {
  constructor(id: string) {
    super(`no VM with id ${JSON.stringify(id)} is tracked by this manager`);
    this.name = "VmNotFoundError";
  }
}

/** True when a process with this pid exists (kill(pid, 0)); EPERM counts as alive. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A small listener registry shared by the backends. */
export class Listeners<T> {
  private fns: ((v: T) => void)[] = [];
  add(fn: (v: T) => void): void {
    this.fns.push(fn);
  }
  emit(v: T): void {
    for (const fn of this.fns) {
      try {
        fn(v);
      } catch {
        // a faulty listener must not break the backend
      }
    }
  }
}
