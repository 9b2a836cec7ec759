// Managers connect here exactly as to a computations server: they dial manager.ManagerService/Process.
// Each one names itself with gRPC metadata (cocos-manager-id) and proves it is the manager the admin
// registered with its token (cocos-manager-token, compared by hash). One stream per id: a second
// manager claiming a connected id is refused. Everything a manager sends is stored on the timeline
// (whether or not anyone watches) and moves the state of the run it belongs to.
import * as grpc from "@grpc/grpc-js";
import { timingSafeEqual } from "node:crypto";
import { ManagerServiceDef } from "../protocol/proto.ts";
import { CHUNK_SIZE, bytesChunks } from "../protocol/chunks.ts";
import { ComputationRunReqType, encodeMessage, dateFromTimestamp, type Timestamp } from "../protocol/proto.ts";
import { runReqFromManifest, parseManifest } from "../protocol/manifest.ts";
import { parsePolicy } from "../attestation/policy.ts";
import { tokenHash } from "./auth.ts";
import type { EventWriter, TimelineBus } from "./timeline.ts";
import type { Run, RunState, Store } from "./store.ts";

export const MANAGER_ID_HEADER = "cocos-manager-id";
export const MANAGER_TOKEN_HEADER = "cocos-manager-token";
export const MANAGER_BACKEND_HEADER = "cocos-manager-backend";

type Msg = Record<string, unknown>;
type Stream = grpc.ServerDuplexStream<Msg, Msg>;

interface Conn {
  id: string;
  host: string;
  backend: string;
  call: Stream;
  send(m: Msg): void;
}

export interface ConsoleLog {
  info(msg: string, f?: Record<string, unknown>): void;
  warn(msg: string, f?: Record<string, unknown>): void;
}

const TERMINAL: readonly RunState[] = ["completed", "failed", "stopped"];

/** How an event moves a run (events the agent and the manager send, agent/state.ts, manager/service.ts). */
export function nextRunState(current: RunState, eventType: string, status: string): RunState | null {
  if (TERMINAL.includes(current)) {
    // A stop the console asked for after the end still tells us the VM is gone; the outcome stays.
    return null;
  }
  if (eventType === "StopComputationRun" && status === "Completed") return "stopped";
  if (status === "Stopped") return current === "stopping" ? "stopped" : "failed";
  if (eventType === "VmProvision" && status === "Failed") return "failed";
  if ((eventType === "Running" || eventType === "Failed") && status === "Failed") return "failed";
  if (eventType === "ConsumingResults" && status === "Ready") return "results_ready";
  if (eventType === "Complete" && status === "Completed") return "completed";
  return null;
}

/**
 * Why a policy from the manager cannot be the one for this run, or "" when it can: its SEV-SNP
 * host_data, when pinned, must be this run's manifest hash (a host handing out a policy for another
 * manifest would have parties verify the agent against the wrong computation).
 */
export function policyMismatch(text: string, manifestHashHex: string): string {
  let hostData: string | undefined;
  try {
    hostData = parsePolicy(text).policy?.host_data;
  } catch (e) {
    return (e as Error).message;
  }
  if (hostData === undefined) return "";
  const got = Buffer.from(hostData, "base64").toString("hex");
  return got === manifestHashHex ? "" : `its host_data ${got || "(empty)"} is not this run's manifest hash ${manifestHashHex}`;
}

/** The host part of a grpc-js peer string ("127.0.0.1:5000", "[::1]:5000", "ipv4:…"). */
export function peerHost(peer: string): string {
  const p = peer.replace(/^ipv[46]:/, "");
  const m = /^\[([^\]]+)\]:\d+$/.exec(p) ?? /^([^:]+):\d+$/.exec(p);
  return m ? m[1]! : p;
}

function sameToken(given: string, storedHash: string): boolean {
  const a = Buffer.from(tokenHash(given), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

export class ManagerHub {
  private conns = new Map<string, Conn>();
  private server: grpc.Server | null = null;
  /** manager/computation → the latest run there (the manager names computations, the console runs). */
  private runCache = new Map<string, string>();
  port = 0;
  /** Records dropped because they named a computation not run on their manager. */
  foreignDropped = 0;
  private closing = false;

  constructor(
    private readonly store: Store,
    private readonly writer: EventWriter,
    private readonly bus: TimelineBus,
    private readonly log: ConsoleLog,
    private readonly o: { stopAfterCompleteMs: number | null } = { stopAfterCompleteMs: 10_000 },
  ) {}

  isConnected(id: string): boolean {
    return this.conns.has(id);
  }
  connection(id: string): { host: string; backend: string } | null {
    const c = this.conns.get(id);
    return c ? { host: c.host, backend: c.backend } : null;
  }

  /** `tls`: PEM certificate and key (the manager trusts them with MANAGER_GRPC_SERVER_CA_CERTS); without, plaintext. */
  async listen(host: string, port: number, tls?: { cert: Buffer; key: Buffer }): Promise<number> {
    const server = new grpc.Server({ "grpc.max_receive_message_length": 16 << 20 });
    server.addService(ManagerServiceDef, { Process: (call: Stream) => void this.accept(call) });
    const creds = tls ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false) : grpc.ServerCredentials.createInsecure();
    this.port = await new Promise<number>((res, rej) => server.bindAsync(`${host}:${port}`, creds, (e, p) => (e ? rej(e) : res(p))));
    this.server = server;
    return this.port;
  }

  async close(): Promise<void> {
    // A console shutting down is no manager disconnecting: nothing goes on the timelines.
    this.closing = true;
    for (const c of this.conns.values()) c.call.end();
    const s = this.server;
    if (!s) return;
    await new Promise<void>((res) => {
      const t = setTimeout(() => (s.forceShutdown(), res()), 1000);
      s.tryShutdown(() => (clearTimeout(t), res()));
    });
  }

  /** Sends the run request as RunReqChunks (1 MiB) + an empty is_last chunk, as the original server does. */
  sendRun(managerId: string, manifestJson: string): boolean {
    const c = this.conns.get(managerId);
    if (!c) return false;
    const req = runReqFromManifest(parseManifest(manifestJson));
    const bytes = encodeMessage(ComputationRunReqType, req as Record<string, unknown>);
    const id = req.id ?? "";
    for (const data of bytesChunks(bytes, CHUNK_SIZE)) c.send({ runReqChunks: { data, id, is_last: false } });
    c.send({ runReqChunks: { data: new Uint8Array(0), id, is_last: true } });
    return true;
  }

  send(managerId: string, m: Msg): boolean {
    const c = this.conns.get(managerId);
    if (!c) return false;
    c.send(m);
    return true;
  }

  rememberRun(r: Run): void {
    this.runCache.set(`${r.manager_id}/${r.computation_id}`, r.id);
  }

  /** A console-made timeline entry (source "console"). */
  note(computationId: string, runId: string | null, managerId: string, eventType: string, status: string, details: string): void {
    const now = Date.now();
    this.writer.push({ time: now, received_at: now, computation_id: computationId, run_id: runId, manager_id: managerId, source: "console", kind: "event", event_type: eventType, status, level: "", details });
  }

  private refuse(call: Stream, code: grpc.status, details: string): void {
    this.log.warn("manager refused", { peer: call.getPeer(), reason: details });
    call.emit("error", { code, details, metadata: new grpc.Metadata() });
  }

  private async accept(call: Stream): Promise<void> {
    const md = (k: string) => String(call.metadata.get(k)[0] ?? "");
    const id = md(MANAGER_ID_HEADER);
    const token = md(MANAGER_TOKEN_HEADER);
    // Messages that arrive while the manager is being checked wait, in order.
    const early: Msg[] = [];
    let handle: (m: Msg) => void = (m) => void early.push(m);
    call.on("data", (m: Msg) => handle(m));
    call.on("error", () => {});
    if (!id) return this.refuse(call, grpc.status.UNAUTHENTICATED, `expected gRPC metadata ${MANAGER_ID_HEADER} (set MANAGER_ID on the manager), got none`);
    const rec = await this.store.managerById(id).catch(() => null);
    if (!rec || !token || !sameToken(token, rec.token_hash)) {
      return this.refuse(call, grpc.status.UNAUTHENTICATED, `manager ${JSON.stringify(id)} is not registered with this token: an admin registers it (POST /api/managers) and the manager sends the token as MANAGER_CONSOLE_TOKEN`);
    }
    const existing = this.conns.get(id);
    if (existing) {
      return this.refuse(call, grpc.status.ALREADY_EXISTS, `manager ${JSON.stringify(id)} is already connected from ${existing.host}; a second manager cannot claim the same id`);
    }
    const conn: Conn = {
      id,
      host: peerHost(call.getPeer()),
      backend: md(MANAGER_BACKEND_HEADER),
      call,
      send: (m) => {
        if (!call.writableEnded && !call.destroyed) call.write(m);
      },
    };
    this.conns.set(id, conn);
    let chain = Promise.resolve();
    let gone = false;
    const bye = () => {
      if (gone) return;
      gone = true;
      if (this.conns.get(id) === conn) this.conns.delete(id);
      chain = chain.then(() => this.disconnected(id));
    };
    call.on("end", () => (bye(), call.end()));
    call.on("cancelled", bye);
    call.on("close", bye);
    call.on("error", bye);
    // One message at a time per manager, so a run's events apply in the order they were sent.
    handle = (m) => (chain = chain.then(() => this.message(conn, m)).catch((e) => this.log.warn("manager message failed", { manager: id, error: String(e) })));
    await this.store.markManager(id, { connected: true, host: conn.host, backend: conn.backend });
    call.sendMetadata(new grpc.Metadata());
    this.log.info("manager connected", { manager: id, host: conn.host, backend: conn.backend });
    for (const r of await this.store.activeRunsOn(id)) {
      this.note(r.computation_id, r.id, id, "ManagerLink", "Connected", `manager ${id} connected from ${conn.host}`);
      // A request lost with the previous stream is sent again; a manager already running it only answers.
      if (r.state === "starting") this.sendRun(id, r.manifest_json);
    }
    for (const m of early.splice(0)) handle(m);
  }

  private async disconnected(id: string): Promise<void> {
    if (this.closing) return;
    await this.store.markManager(id, { connected: false }).catch(() => {});
    this.log.info("manager disconnected", { manager: id });
    for (const r of await this.store.activeRunsOn(id).catch(() => [])) {
      this.note(r.computation_id, r.id, id, "ManagerLink", "Disconnected", `manager ${id} disconnected; the run continues when it reconnects`);
    }
  }

  private async runFor(managerId: string, computationId: string): Promise<Run | null> {
    const key = `${managerId}/${computationId}`;
    const cached = this.runCache.get(key);
    const r = cached ? await this.store.runById(cached) : null;
    if (r) return r;
    const runs = (await this.store.runsOf(computationId)).filter((x) => x.manager_id === managerId);
    if (runs[0]) this.runCache.set(key, runs[0].id);
    return runs[0] ?? null;
  }

  /**
   * Results consumed: the VM has nothing left to do, so its vCPUs go back, after a grace period: the
   * agent reports completion as it sends the last bytes, and a stop at once would cut the consumer's
   * download short. (A console restarted within the grace period leaves the VM to the owner's Stop.)
   */
  private stopLater(managerId: string, run: Run): void {
    if (this.o.stopAfterCompleteMs === null) return;
    const t = setTimeout(() => {
      if (this.send(managerId, { stopComputation: { computation_id: run.computation_id } })) {
        this.note(run.computation_id, run.id, managerId, "Console", "InProgress", "results consumed: stopping the VM");
      }
    }, this.o.stopAfterCompleteMs);
    (t as { unref?: () => void }).unref?.();
  }

  private async setState(run: Run, f: Parameters<Store["updateRun"]>[1]): Promise<void> {
    const next = await this.store.updateRun(run.id, f);
    if (next) this.bus.publish(next.computation_id, { type: "run", run: next });
  }

  private async message(conn: Conn, m: Msg): Promise<void> {
    const now = Date.now();
    if (m.agent_event) {
      const e = m.agent_event as { event_type: string; status: string; computation_id: string; originator: string; details?: Uint8Array; timestamp?: Timestamp | null };
      const run = await this.runFor(conn.id, e.computation_id);
      if (!run) return this.dropForeign(conn, e.computation_id);
      this.writer.push({
        time: dateFromTimestamp(e.timestamp)?.getTime() ?? now, received_at: now, computation_id: e.computation_id, run_id: run.id, manager_id: conn.id,
        source: e.originator || "agent", kind: "event", event_type: e.event_type, status: e.status, level: "", details: Buffer.from(e.details ?? []).toString("utf8"),
      });
      const next = nextRunState(run.state, e.event_type, e.status);
      if (next) {
        await this.setState(run, { state: next, ...(TERMINAL.includes(next) ? { ended_at: now } : {}) });
        if (next === "completed") this.stopLater(conn.id, run);
      }
    } else if (m.agent_log) {
      const l = m.agent_log as { message: string; computation_id: string; level: string; timestamp?: Timestamp | null };
      const run = await this.runFor(conn.id, l.computation_id);
      if (!run) return this.dropForeign(conn, l.computation_id);
      this.writer.push({
        time: dateFromTimestamp(l.timestamp)?.getTime() ?? now, received_at: now, computation_id: l.computation_id, run_id: run.id, manager_id: conn.id,
        source: "agent", kind: "log", event_type: "", status: "", level: l.level || "INFO", details: l.message,
      });
    } else if (m.run_res) {
      const r = m.run_res as { agent_port: string; computation_id: string; error?: string };
      const run = await this.runFor(conn.id, r.computation_id);
      if (!run || TERMINAL.includes(run.state)) return;
      if (r.error || !r.agent_port) {
        await this.setState(run, { state: "failed", error: r.error || "the manager answered without an agent port", ended_at: now });
        return;
      }
      await this.setState(run, { state: run.state === "starting" ? "running" : run.state, agent_port: r.agent_port });
      // The policy parties verify the agent against (host_data = this manifest's hash).
      conn.send({ attestationPolicyReq: { id: r.computation_id } });
    } else if (m.attestationPolicy) {
      const p = m.attestationPolicy as { id: string; info: Uint8Array };
      const run = await this.runFor(conn.id, p.id);
      if (!run) return;
      const text = Buffer.from(p.info).toString("utf8");
      const refused = policyMismatch(text, run.manifest_hash);
      if (refused) return this.note(run.computation_id, run.id, conn.id, "AttestationPolicy", "Failed", `policy from manager ${conn.id} refused: ${refused}`);
      await this.setState(run, { policy: text });
    } else if (m.stopComputationRes) {
      const s = m.stopComputationRes as { computation_id: string; message: string };
      const run = await this.runFor(conn.id, s.computation_id);
      if (!run || !s.message) return;
      this.note(s.computation_id, run.id, conn.id, "StopComputationRun", "Failed", s.message);
      // The VM was already gone: the stop asked for is done.
      if (run.state === "stopping" && /not found/.test(s.message)) await this.setState(run, { state: "stopped", ended_at: now });
    }
  }

  /**
   * A manager speaks only for computations the console ran on it: a record naming any other
   * computation (a hostile or confused host writing into another party's timeline) is dropped.
   */
  private dropForeign(conn: Conn, computationId: string): void {
    this.foreignDropped++;
    if (this.foreignDropped === 1 || this.foreignDropped % 1000 === 0) {
      this.log.warn("dropped records for a computation not run on this manager", { manager: conn.id, computation_id: computationId.slice(0, 128), dropped: this.foreignDropped });
    }
  }
}
