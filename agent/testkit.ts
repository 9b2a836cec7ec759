// Test helpers: an in-process agent fed over a real Unix-socket host channel, and a grpc-js client.
import * as grpc from "@grpc/grpc-js";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha3_256 } from "../protocol/hash.ts";
import { connectHostChannels, HostLink, type EventsLogsMsg } from "../protocol/host-channel/links.ts";
import { publicKeyDer } from "../protocol/keys.ts";
import { manifestToJSON, parseManifest, type Manifest } from "../protocol/manifest.ts";
import { agentProto } from "../protocol/proto.ts";
import { signRequest, signRole, type Role } from "../protocol/signature.ts";
import type { EvidenceProvider } from "../attestation/providers/types.ts";
import type { AlgoType, Runner } from "../runtime/types.ts";
import { Agent } from "./agent.ts";
import { loadConfig, type AgentConfig } from "./config.ts";

export const ed = () => generateKeyPairSync("ed25519").privateKey;

export interface Party {
  key: KeyObject;
}

export interface TestAgentSpec {
  algorithm: Uint8Array;
  algoKey: KeyObject;
  datasets: { bytes: Uint8Array; filename: string; key: KeyObject }[];
  consumers: KeyObject[];
  config?: Partial<AgentConfig>;
  signatures?: Manifest["signatures"];
  guestOutput?: Manifest["guest_output"];
  /** Tests: stand-in runners (default: the real ones). */
  runnerFor?: (t: AlgoType) => Runner;
  /** Manifest agent_config fields (e.g. attested_tls). */
  agentConfig?: Record<string, unknown>;
  provider?: EvidenceProvider | null;
  /** The host's answer to report requests (AGENT_ATTESTATION=host). */
  hostReport?: (reportData: Uint8Array, manifest: Manifest) => Promise<Uint8Array>;
  /** Edits the manifest's JSON form before it is parsed (fields the spec has no option for). */
  manifestPatch?: (raw: Record<string, any>) => void;
}

export interface TestAgent {
  agent: Agent;
  client: grpc.Client & Record<string, Function>;
  manifest: Manifest;
  dir: string;
  events: { type: string; status: string }[];
  /** The agent's own log lines (its stdout). */
  logs: string[];
  /** AgentLog records the host channel carried. */
  hostLogs: { level: string; message: string }[];
  waitForState(state: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTestAgent(spec: TestAgentSpec): Promise<TestAgent> {
  const dir = mkdtempSync(join(tmpdir(), "agent-test-"));
  const raw: Record<string, any> = {
    id: "comp-" + Math.random().toString(36).slice(2, 8),
    name: "test computation",
    datasets: spec.datasets.map((d) => ({ hash: Array.from(sha3_256(d.bytes)), user_key: Buffer.from(publicKeyDer(d.key)).toString("base64"), filename: d.filename })),
    algorithm: { hash: Array.from(sha3_256(spec.algorithm)), user_key: Buffer.from(publicKeyDer(spec.algoKey)).toString("base64") },
    result_consumers: spec.consumers.map((k) => ({ user_key: Buffer.from(publicKeyDer(k)).toString("base64") })),
    agent_config: { port: "0", host: "127.0.0.1", ...spec.agentConfig },
    ...(spec.signatures ? { signatures: spec.signatures } : {}),
    ...(spec.guestOutput ? { guest_output: spec.guestOutput } : {}),
  };
  spec.manifestPatch?.(raw);
  const manifest = parseManifest(raw);
  const config: AgentConfig = {
    ...loadConfig({}, dir),
    hostChannel: "unix",
    manifestSocket: join(dir, "m.sock"),
    eventsSocket: join(dir, "e.sock"),
    workDir: dir,
    logLevel: "debug",
    httpPort: 0,
    ...spec.config,
  };
  const logs: string[] = [];
  const agent = new Agent({ config, provider: config.attestation === "host" ? undefined : (spec.provider ?? null), logWrite: (l) => logs.push(l), runnerFor: spec.runnerFor });
  const host = new HostLink(connectHostChannels(config.manifestSocket!, config.eventsSocket!));
  if (spec.hostReport) host.onReportRequest((rd) => spec.hostReport!(rd, manifest));
  const events: { type: string; status: string }[] = [];
  const hostLogs: TestAgent["hostLogs"] = [];
  host.onEventsLogs((m: EventsLogsMsg) => {
    if (m.message === "agent_event") events.push({ type: m.agent_event.event_type, status: m.agent_event.status });
    if (m.message === "agent_log") hostLogs.push({ level: m.agent_log.level, message: m.agent_log.message });
  });
  const started = agent.start();
  await host.setManifest(manifestToJSON(manifest));
  try {
    await started;
  } catch (err) {
    await agent.stop();
    await host.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const client = new agentProto.AgentService(`127.0.0.1:${agent.grpcPort}`, grpc.credentials.createInsecure()) as unknown as TestAgent["client"];
  return {
    agent,
    client,
    manifest,
    dir,
    events,
    logs,
    hostLogs,
    async waitForState(state, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (agent.computation.state !== state) {
        if (Date.now() > until) throw new Error(`agent state is ${agent.computation.state}, expected ${state}`);
        await Bun.sleep(10);
      }
    },
    async close() {
      client.close();
      await agent.stop();
      await host.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function metadata(entries: Record<string, string | string[]>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) for (const x of Array.isArray(v) ? v : [v]) md.add(k, x);
  return md;
}

export const v1 = (key: KeyObject, role: Role) => ({ "user-id": role, signature: signRole(key, role) });
export const v2 = (key: KeyObject, role: Role, method: string, computationId: string) => signRequest(key, { role, method, computationId });

export interface CallResult {
  code: grpc.status;
  details: string;
}

const OK: CallResult = { code: grpc.status.OK, details: "" };

function done(err: grpc.ServiceError | null): CallResult {
  return err ? { code: err.code, details: err.details } : OK;
}

export function uploadAlgo(t: TestAgent, md: grpc.Metadata, algorithm: Uint8Array, requirements?: Uint8Array): Promise<CallResult> {
  return new Promise((resolve) => {
    const call = t.client.Algo(md, (err: grpc.ServiceError | null) => resolve(done(err)));
    if (requirements) call.write({ requirements });
    for (let off = 0; off < algorithm.length || off === 0; off += 1 << 20) {
      call.write({ algorithm: algorithm.subarray(off, off + (1 << 20)) });
      if (algorithm.length === 0) break;
    }
    call.end();
  });
}

export function uploadData(t: TestAgent, md: grpc.Metadata, filename: string, dataset: Uint8Array): Promise<CallResult> {
  return new Promise((resolve) => {
    const call = t.client.Data(md, (err: grpc.ServiceError | null) => resolve(done(err)));
    for (let off = 0; off < dataset.length; off += 1 << 20) call.write({ dataset: dataset.subarray(off, off + (1 << 20)), filename });
    call.end();
  });
}

export function download(t: TestAgent, method: "Result" | "Attestation", md: grpc.Metadata, req: object = {}): Promise<CallResult & { bytes: Buffer; fileSize: number }> {
  return new Promise((resolve) => {
    const call = t.client[method](req, md);
    const parts: Buffer[] = [];
    let fileSize = -1;
    call.on("metadata", (m: grpc.Metadata) => (fileSize = Number(m.get("file-size")[0] ?? -1)));
    call.on("data", (d: { file: Buffer }) => parts.push(d.file));
    call.on("error", () => {});
    call.on("status", (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details, bytes: Buffer.concat(parts), fileSize }));
  });
}
