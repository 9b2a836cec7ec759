// Agent configuration from AGENT_* environment variables (Cocos names where they exist:
// AGENT_GRPC_PORT, AGENT_GRPC_HOST, AGENT_LOG_LEVEL, AGENT_VMPL).
import { DEFAULT_GUARD_LIMITS, type GuardLimits } from "../protocol/conn-guard.ts";
import { parseDurationMs } from "../protocol/env-values.ts";
import { DEFAULT_LIMITS, type RunLimits } from "../runtime/types.ts";
import type { LogLevel } from "./log.ts";

export type HostChannelKind = "unix" | "virtio-serial" | "vsock" | "none";
export type AttestationMode = "auto" | "snp" | "tdx" | "sim" | "host" | "none";

export interface AgentConfig {
  /** Env override of the manifest's agent_config.port (the process backend hands out free ports). */
  grpcPort?: number;
  grpcHost?: string;
  logLevel: LogLevel;
  vmpl: number;
  hostChannel: HostChannelKind;
  manifestSocket?: string;
  eventsSocket?: string;
  /** virtio-serial port directory (default /dev/virtio-ports) or vsock host CID. */
  hostChannelArg?: string;
  /** Expected computation id (from the manager); a manifest with another id is refused. */
  computationId?: string;
  workDir: string;
  /** /health and /metrics; off unless AGENT_HTTP_PORT is set (0 = any free port). */
  httpPort?: number;
  httpHost: string;
  maxAlgorithmBytes: number;
  maxRequirementsBytes: number;
  maxDatasetBytes: number;
  maxUnzipBytes: number;
  maxUnzipEntryBytes: number;
  maxUnzipEntries: number;
  runLimits: RunLimits;
  maxSkewMs: number;
  attestation: AttestationMode;
  simStateDir?: string;
  /** Hex, 48 bytes: the measurement a sim report carries (e.g. SHA-384 of the image). */
  simMeasurement?: string;
  /** Every listening port: AGENT_HANDSHAKE_TIMEOUT, AGENT_IDLE_TIMEOUT, AGENT_MAX_CONNS_PER_CLIENT. */
  guard: GuardLimits;
  /** Remote sources (manifest source.url): AGENT_SOURCE_TIMEOUT (idle), AGENT_SOURCE_ATTEMPTS. */
  sources: { idleTimeoutMs: number; attempts: number };
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min = 0): number {
  const v = env[name];
  if (v === undefined || v === "") return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], def: T): T {
  const v = (env[name] ?? "").trim().toLowerCase();
  if (v === "") return def;
  if (!allowed.includes(v as T)) throw new ConfigError(`${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(env[name])}`);
  return v as T;
}

function duration(env: Env, name: string, defMs: number): number {
  const v = env[name];
  if (v === undefined || v === "") return defMs;
  let ms: number;
  try {
    ms = parseDurationMs(v, name);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  if (!(ms > 0)) throw new ConfigError(`${name} must be a positive duration like 10s, got ${JSON.stringify(v)}`);
  return ms;
}

const GiB = 1024 ** 3;

export function loadConfig(env: Env = process.env, cwd = process.cwd()): AgentConfig {
  const port = env.AGENT_GRPC_PORT ? int(env, "AGENT_GRPC_PORT", 7002) : undefined;
  if (port !== undefined && port > 65535) throw new ConfigError(`AGENT_GRPC_PORT must be ≤ 65535, got ${port}`);
  const vmpl = int(env, "AGENT_VMPL", 2);
  if (vmpl > 3) throw new ConfigError(`AGENT_VMPL must be 0..3, got ${vmpl}`);
  const hostChannel = oneOf(env, "AGENT_HOST_CHANNEL", ["unix", "virtio-serial", "vsock", "none"] as const, "none");
  if (hostChannel === "unix" && (!env.AGENT_MANIFEST_SOCKET || !env.AGENT_EVENTS_SOCKET)) {
    throw new ConfigError("AGENT_HOST_CHANNEL=unix needs AGENT_MANIFEST_SOCKET and AGENT_EVENTS_SOCKET");
  }
  return {
    grpcPort: port,
    grpcHost: env.AGENT_GRPC_HOST || undefined,
    logLevel: oneOf(env, "AGENT_LOG_LEVEL", ["debug", "info", "warn", "error"] as const, "info"),
    vmpl,
    hostChannel,
    manifestSocket: env.AGENT_MANIFEST_SOCKET,
    eventsSocket: env.AGENT_EVENTS_SOCKET,
    hostChannelArg: env.AGENT_HOST_CHANNEL_ARG || undefined,
    computationId: env.AGENT_COMPUTATION_ID || undefined,
    workDir: env.AGENT_WORK_DIR || cwd,
    httpPort: env.AGENT_HTTP_PORT ? int(env, "AGENT_HTTP_PORT", 0) : undefined,
    httpHost: env.AGENT_HTTP_HOST || "127.0.0.1",
    maxAlgorithmBytes: int(env, "AGENT_MAX_ALGORITHM_BYTES", 1 * GiB, 1),
    maxRequirementsBytes: int(env, "AGENT_MAX_REQUIREMENTS_BYTES", 1 << 20, 0),
    maxDatasetBytes: int(env, "AGENT_MAX_DATASET_BYTES", 8 * GiB, 1),
    maxUnzipBytes: int(env, "AGENT_MAX_UNZIP_BYTES", 8 * GiB, 1),
    maxUnzipEntryBytes: int(env, "AGENT_MAX_UNZIP_ENTRY_BYTES", 4 * GiB - 1, 1),
    maxUnzipEntries: int(env, "AGENT_MAX_UNZIP_ENTRIES", 100_000, 1),
    runLimits: {
      timeoutMs: int(env, "AGENT_RUN_TIMEOUT_MS", DEFAULT_LIMITS.timeoutMs, 1),
      memoryBytes: int(env, "AGENT_RUN_MEMORY_BYTES", DEFAULT_LIMITS.memoryBytes, 1),
      maxResultsBytes: int(env, "AGENT_RUN_MAX_RESULTS_BYTES", DEFAULT_LIMITS.maxResultsBytes, 1),
      maxStdioBytes: int(env, "AGENT_RUN_MAX_STDIO_BYTES", DEFAULT_LIMITS.maxStdioBytes, 1),
    },
    maxSkewMs: int(env, "AGENT_SIGNATURE_MAX_SKEW_MS", 5 * 60_000, 1),
    attestation: oneOf(env, "AGENT_ATTESTATION", ["auto", "snp", "tdx", "sim", "host", "none"] as const, "auto"),
    simStateDir: env.AGENT_SIM_STATE_DIR || undefined,
    simMeasurement: env.AGENT_SIM_MEASUREMENT || undefined,
    guard: {
      handshakeTimeoutMs: duration(env, "AGENT_HANDSHAKE_TIMEOUT", DEFAULT_GUARD_LIMITS.handshakeTimeoutMs),
      idleTimeoutMs: duration(env, "AGENT_IDLE_TIMEOUT", DEFAULT_GUARD_LIMITS.idleTimeoutMs),
      maxConnsPerClient: int(env, "AGENT_MAX_CONNS_PER_CLIENT", DEFAULT_GUARD_LIMITS.maxConnsPerClient, 1),
    },
    sources: { idleTimeoutMs: duration(env, "AGENT_SOURCE_TIMEOUT", 30_000), attempts: int(env, "AGENT_SOURCE_ATTEMPTS", 3, 1) },
  };
}
