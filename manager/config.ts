// Manager configuration from MANAGER_* environment variables (names and defaults of Cocos v0.4.0
// where they exist, cocos-manager.md §2.1; the rest are ours and documented here).
import { parseDurationMs } from "../protocol/env-values.ts";
import { join } from "node:path";
import { RUN_REQ_DEFAULTS } from "./run-req.ts";

export type BackendName = "process" | "qemu" | "auto";

export interface ManagerConfig {
  logLevel: string;
  /** Computations server the manager dials (MANAGER_GRPC_URL, default localhost:7001). */
  grpcUrl: string;
  grpcTimeoutMs: number;
  grpcClientCert: string;
  grpcClientKey: string;
  grpcServerCaCerts: string;
  eosVersion: string;
  instanceId: string;
  /** MANAGER_ID: how the control plane (console) knows this manager; empty = a stable id kept in <stateDir>/manager-id. */
  managerId: string;
  /** MANAGER_CONSOLE_TOKEN: the token the console's admin registered for this manager (sent as gRPC metadata). */
  consoleToken: string;
  /** MANAGER_BACKEND: process | qemu | auto (qemu when an image and QEMU exist). */
  backend: BackendName;
  /** MANAGER_STATE_DIR: one JSON file per VM; default ./.cocos/manager. */
  stateDir: string;
  /** MANAGER_HTTP_HOST / MANAGER_HTTP_PORT (HEAD's names; default 127.0.0.1:7003 — loopback only; 0 = any free port, "off" = no HTTP API). */
  httpHost: string;
  httpPort: number | null;
  /** MANAGER_HTTP_TOKEN: bearer token of the HTTP API (empty = generated once into <stateDir>/http-token). */
  httpToken: string;
  /** MANAGER_HTTP_ALLOWED_HOSTS: extra host names (comma-separated) accepted in the Host header. */
  httpAllowedHosts: string[];
  /** Reconnect backoff to the computations server: initial and maximum delay. */
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  /** Idle expiry of a partially received RunReqChunks buffer (30 s in the original). */
  runReqTimeoutMs: number;
  /** MANAGER_RUN_REQ_MAX_BYTES / _MAX_TOTAL_BYTES / _MAX_PENDING: one request, all incomplete ones, how many at once. */
  runReqMaxBytes: number;
  runReqMaxTotalBytes: number;
  runReqMaxPending: number;
  /** MANAGER_SIM_REPORT_RATE / _BURST: sim report requests a VM may make per second, and in one burst. */
  simReportRate: number;
  simReportBurst: number;
  /** SIGTERM → SIGKILL grace on stop (30 s in the original). */
  stopGraceMs: number;
  /** Reported in SVMInfo (MANAGER_QEMU_* names of the original). */
  qemuOvmfVersion: string;
  qemuSmpCount: number;
  qemuCpu: string;
  /** How often the host channels are checked for a guest that went silent (MANAGER_LINK_WATCH, default 1s). */
  linkWatchMs: number;
  /** MANAGER_VM_TTL: stop every VM this long after it started (Go duration; empty = never). */
  vmTtlMs: number;
  /** MANAGER_AGENT_ATTESTATION → the agent's AGENT_ATTESTATION (default host: the manager's sim secure processor). */
  agentAttestation: string;
  /** MANAGER_AGENT_BIN: agent command for the process backend (path, or command line split on spaces). */
  agentBin: string;
  /** MANAGER_ATTESTATION_POLICY_FILE: a JSON policy returned for AttestationPolicyReq (host_data filled in). */
  attestationPolicyFile: string;
}

function int(env: Record<string, string | undefined>, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

function str(env: Record<string, string | undefined>, name: string, dflt: string): string {
  const v = env[name];
  return v === undefined || v === "" ? dflt : v;
}

export function loadManagerConfig(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): ManagerConfig {
  const backend = str(env, "MANAGER_BACKEND", "auto");
  if (backend !== "process" && backend !== "qemu" && backend !== "auto") {
    throw new Error(`MANAGER_BACKEND: expected process, qemu or auto, got ${JSON.stringify(backend)}`);
  }
  return {
    logLevel: str(env, "MANAGER_LOG_LEVEL", "info"),
    grpcUrl: str(env, "MANAGER_GRPC_URL", "localhost:7001"),
    grpcTimeoutMs: parseDurationMs(str(env, "MANAGER_GRPC_TIMEOUT", "60s"), "MANAGER_GRPC_TIMEOUT"),
    grpcClientCert: str(env, "MANAGER_GRPC_CLIENT_CERT", ""),
    grpcClientKey: str(env, "MANAGER_GRPC_CLIENT_KEY", ""),
    grpcServerCaCerts: str(env, "MANAGER_GRPC_SERVER_CA_CERTS", ""),
    eosVersion: str(env, "MANAGER_EOS_VERSION", ""),
    instanceId: str(env, "MANAGER_INSTANCE_ID", crypto.randomUUID()),
    managerId: str(env, "MANAGER_ID", ""),
    consoleToken: str(env, "MANAGER_CONSOLE_TOKEN", ""),
    backend,
    stateDir: str(env, "MANAGER_STATE_DIR", join(cwd, ".cocos", "manager")),
    httpHost: str(env, "MANAGER_HTTP_HOST", "127.0.0.1"),
    httpPort: env.MANAGER_HTTP_PORT === "off" ? null : int(env, "MANAGER_HTTP_PORT", 7003),
    httpToken: str(env, "MANAGER_HTTP_TOKEN", ""),
    httpAllowedHosts: str(env, "MANAGER_HTTP_ALLOWED_HOSTS", "").split(",").map((h) => h.trim()).filter(Boolean),
    reconnectInitialMs: parseDurationMs(str(env, "MANAGER_GRPC_RECONNECT_INITIAL", "500ms"), "MANAGER_GRPC_RECONNECT_INITIAL"),
    reconnectMaxMs: parseDurationMs(str(env, "MANAGER_GRPC_RECONNECT_MAX", "10s"), "MANAGER_GRPC_RECONNECT_MAX"),
    runReqTimeoutMs: parseDurationMs(str(env, "MANAGER_RUN_REQ_TIMEOUT", "30s"), "MANAGER_RUN_REQ_TIMEOUT"),
    runReqMaxBytes: int(env, "MANAGER_RUN_REQ_MAX_BYTES", RUN_REQ_DEFAULTS.maxBytes),
    runReqMaxTotalBytes: int(env, "MANAGER_RUN_REQ_MAX_TOTAL_BYTES", RUN_REQ_DEFAULTS.maxTotalBytes),
    runReqMaxPending: int(env, "MANAGER_RUN_REQ_MAX_PENDING", RUN_REQ_DEFAULTS.maxPending),
    simReportRate: int(env, "MANAGER_SIM_REPORT_RATE", 10),
    simReportBurst: int(env, "MANAGER_SIM_REPORT_BURST", 20),
    stopGraceMs: parseDurationMs(str(env, "MANAGER_STOP_GRACE", "30s"), "MANAGER_STOP_GRACE"),
    qemuOvmfVersion: str(env, "MANAGER_QEMU_OVMF_VERSION", ""),
    qemuSmpCount: int(env, "MANAGER_QEMU_SMP_COUNT", 4),
    qemuCpu: str(env, "MANAGER_QEMU_CPU", "EPYC"),
    agentBin: str(env, "MANAGER_AGENT_BIN", ""),
    agentAttestation: str(env, "MANAGER_AGENT_ATTESTATION", "host"),
    linkWatchMs: parseDurationMs(str(env, "MANAGER_LINK_WATCH", "1s"), "MANAGER_LINK_WATCH"),
    vmTtlMs: env.MANAGER_VM_TTL ? parseDurationMs(env.MANAGER_VM_TTL, "MANAGER_VM_TTL") : 0,
    attestationPolicyFile: str(env, "MANAGER_ATTESTATION_POLICY_FILE", ""),
  };
}
