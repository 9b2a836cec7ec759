// The computations server (the original's test/computations): it implements
// manager.ManagerService/Process. Every manager that connects gets the computation request as 1 MiB
// RunReqChunks plus a final empty is_last chunk; everything the manager sends back is delivered to
// listeners (printed by the CLI, awaited by the demo and tests).
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { certificateFileAsPem } from "../attestation/cert-file.ts";
import { ComputationRunReqType, ManagerServiceDef, encodeMessage } from "../protocol/proto.ts";
import { CHUNK_SIZE, bytesChunks } from "../protocol/chunks.ts";

export type ClientStreamMessage = {
  message?: string;
  agent_log?: { message: string; computation_id: string; level: string; timestamp?: { seconds: number; nanos: number } | null };
  agent_event?: {
    event_type: string;
    timestamp?: { seconds: number; nanos: number } | null;
    computation_id: string;
    details: Uint8Array;
    originator: string;
    status: string;
  };
  run_res?: { agent_port: string; computation_id: string; [k: string]: unknown };
  attestationPolicy?: { info: Uint8Array; id: string };
  stopComputationRes?: { computation_id: string; message: string };
  svm_info?: Record<string, unknown>;
};

export type ServerStreamMessage =
  | { runReqChunks: { data: Uint8Array; id: string; is_last: boolean } }
  | { terminateReq: { message: string } }
  | { stopComputation: { computation_id: string } }
  | { attestationPolicyReq: { id: string } }
  | { svmInfoReq: { id: string } };

type ProcessStream = grpc.ServerDuplexStream<ClientStreamMessage, ServerStreamMessage>;

export interface ComputationsServerOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** The ComputationRunReq (plain object in proto-loader shape) sent to every manager that connects. */
  runReq: Record<string, unknown>;
  tls?: { serverCert: string; serverKey: string; clientCaCerts?: string };
}

export interface ManagerPeer {
  peer: string;
  send(msg: ServerStreamMessage): void;
}

export interface ComputationsServer {
  port: number;
  host: string;
  /** Each message from any manager. */
  onMessage(fn: (msg: ClientStreamMessage, peer: ManagerPeer) => void): void;
  onConnect(fn: (peer: ManagerPeer) => void): void;
  onDisconnect(fn: (peer: ManagerPeer) => void): void;
  /** Managers currently connected. */
  peers(): ManagerPeer[];
  /** Sends to every connected manager. */
  broadcast(msg: ServerStreamMessage): void;
  close(): Promise<void>;
}

/** The request as the wire carries it: 1 MiB RunReqChunks then an empty is_last chunk. */
export function runReqChunkMessages(runReq: Record<string, unknown>, chunkSize = CHUNK_SIZE): ServerStreamMessage[] {
  const bytes = encodeMessage(ComputationRunReqType, runReq);
  const id = String(runReq.id ?? "");
  const out: ServerStreamMessage[] = [];
  for (const data of bytesChunks(bytes, chunkSize)) out.push({ runReqChunks: { data, id, is_last: false } });
  out.push({ runReqChunks: { data: new Uint8Array(0), id, is_last: true } });
  return out;
}

function serverCredentials(tls: ComputationsServerOptions["tls"]): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  // Certificates in PEM or DER (chains included).
  const pair = { cert_chain: certificateFileAsPem(tls.serverCert, "SERVER_CERT"), private_key: readFileSync(tls.serverKey) };
  const ca = tls.clientCaCerts ? certificateFileAsPem(tls.clientCaCerts, "CLIENT_CA_CERTS") : null;
  return grpc.ServerCredentials.createSsl(ca, [pair], Boolean(ca));
}

export async function startComputationsServer(o: ComputationsServerOptions): Promise<ComputationsServer> {
  const host = o.host ?? "localhost";
  const msgFns: ((m: ClientStreamMessage, p: ManagerPeer) => void)[] = [];
  const connFns: ((p: ManagerPeer) => void)[] = [];
  const discFns: ((p: ManagerPeer) => void)[] = [];
  const live = new Map<ProcessStream, ManagerPeer>();
  const chunks = runReqChunkMessages(o.runReq);

  const server = new grpc.Server({ "grpc.max_receive_message_length": 16 << 20 });
  server.addService(ManagerServiceDef, {
    Process(call: ProcessStream) {
      const peer: ManagerPeer = {
        peer: call.getPeer(),
        send: (msg) => {
          if (!call.writableEnded && !call.destroyed) call.write(msg);
        },
      };
      live.set(call, peer);
      const gone = () => {
        if (live.delete(call)) for (const f of discFns) f(peer);
      };
      call.on("data", (m: ClientStreamMessage) => {
        for (const f of msgFns) f(m, peer);
      });
      call.on("end", () => {
        gone();
        call.end();
      });
      call.on("error", gone);
      call.on("cancelled", gone);
      call.on("close", gone);
      for (const f of connFns) f(peer);
      // As the original: the request goes out as soon as a manager opens the stream.
      for (const c of chunks) peer.send(c);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${o.port ?? 7001}`, serverCredentials(o.tls), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    host,
    onMessage: (f) => void msgFns.push(f),
    onConnect: (f) => void connFns.push(f),
    onDisconnect: (f) => void discFns.push(f),
    peers: () => [...live.values()],
    broadcast: (m) => {
      for (const p of live.values()) p.send(m);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const call of live.keys()) call.end();
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000).unref?.();
      }),
  };
}

function time(ts: { seconds: number; nanos: number } | null | undefined): string {
  const d = ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(Number(ts.nanos) / 1e6)) : new Date();
  return d.toISOString().slice(11, 23);
}

/** One readable line per manager message. */
export function formatClientMessage(m: ClientStreamMessage): string {
  if (m.agent_event) {
    const e = m.agent_event;
    const details = e.details?.byteLength ? `  ${Buffer.from(e.details).toString("utf8")}` : "";
    return `${time(e.timestamp)} event  ${e.event_type}/${e.status}  computation=${e.computation_id} from=${e.originator}${details}`;
  }
  if (m.agent_log) {
    const l = m.agent_log;
    const text = l.message.replace(/\s+$/, "").replace(/\r?\n/g, " ⏎ ");
    return `${time(l.timestamp)} log    ${(l.level || "INFO").padEnd(5)}  ${text}${l.computation_id ? `  computation=${l.computation_id}` : ""}`;
  }
  if (m.run_res) {
    const r = m.run_res;
    const err = typeof r.error === "string" && r.error ? `  error=${r.error}` : "";
    return `${time(null)} run    computation=${r.computation_id} agent_port=${r.agent_port || "-"}${err}`;
  }
  if (m.stopComputationRes) {
    const s = m.stopComputationRes;
    return `${time(null)} stop   computation=${s.computation_id} ${s.message ? `error=${s.message}` : "ok"}`;
  }
  if (m.attestationPolicy) {
    const text = Buffer.from(m.attestationPolicy.info).toString("utf8");
    let compact = text;
    try {
      compact = JSON.stringify(JSON.parse(text));
    } catch {
      compact = text.replace(/\s+/g, " ");
    }
    return `${time(null)} policy computation=${m.attestationPolicy.id} ${compact}`;
  }
  if (m.svm_info) {
    return `${time(null)} svm    ${JSON.stringify(m.svm_info)}`;
  }
  return `${time(null)} ?      ${JSON.stringify(m)}`;
}
