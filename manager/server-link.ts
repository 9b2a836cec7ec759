// The manager's link to the computations server: one Process stream at a time, re-dialled with
// exponential backoff whenever it breaks (the original exits instead; its VMs survive either way).
// Outgoing messages queue while the link is down and go out, in order, after it is back.
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { certificateFileAsPem } from "../attestation/cert-file.ts";
import { managerProto } from "../protocol/proto.ts";
import type { Logger } from "./log.ts";

export type ClientStreamMessage = Record<string, unknown>;
export type ServerStreamMessage = Record<string, unknown> & { message?: string };

export interface ServerLinkOptions {
  url: string;
  clientCert?: string;
  clientKey?: string;
  serverCaCerts?: string;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Messages kept while disconnected; the oldest logs are dropped first beyond this. */
  maxQueued?: number;
  /** gRPC metadata sent when the stream opens (the manager's id and console token, see linkMetadata). */
  metadata?: Record<string, string>;
  log: Logger;
}

/**
 * Who this manager is to the control plane: cocos-manager-id (MANAGER_ID, else an id made once and
 * kept in the state dir, so a restarted manager is the same manager), its backend, and the token the
 * console registered for it. A plain computations server ignores them.
 */
export function linkMetadata(o: { stateDir: string; managerId: string; consoleToken: string; backend: string }): Record<string, string> {
  let id = o.managerId;
  if (!id) {
    const path = join(o.stateDir, "manager-id");
    mkdirSync(o.stateDir, { recursive: true });
    try {
      writeFileSync(path, `manager-${randomUUID()}\n`, { flag: "wx" });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    id = readFileSync(path, "utf8").trim();
  }
  const md: Record<string, string> = { "cocos-manager-id": id, "cocos-manager-backend": o.backend };
  if (o.consoleToken) md["cocos-manager-token"] = o.consoleToken;
  return md;
}

export class ServerLink {
  private client: grpc.Client & { Process(): grpc.ClientDuplexStream<ClientStreamMessage, ServerStreamMessage> };
  private call: grpc.ClientDuplexStream<ClientStreamMessage, ServerStreamMessage> | null = null;
  private queue: ClientStreamMessage[] = [];
  private handlers: ((m: ServerStreamMessage) => void)[] = [];
  private connectHandlers: (() => void)[] = [];
  private closed = false;
  private backoff: number;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  connected = false;
  /** Number of streams opened so far (1 after the first connect). */
  connects = 0;

  constructor(private readonly o: ServerLinkOptions) {
    this.backoff = o.initialBackoffMs;
    this.client = new managerProto.ManagerService(o.url, credentials(o), {
      "grpc.max_receive_message_length": 16 << 20,
      // Fail fast on a dead server, so the reconnect loop, not grpc's, owns the timing.
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2000,
      // Detect a server that vanished without closing the connection (host down, network cut). Not
      // more often than every 5 min: Go servers' default enforcement answers faster pings with GOAWAY.
      "grpc.keepalive_time_ms": 300_000,
      "grpc.keepalive_timeout_ms": 20_000,
    }) as unknown as ServerLink["client"];
  }

  onMessage(fn: (m: ServerStreamMessage) => void): void {
    this.handlers.push(fn);
  }
  onConnect(fn: () => void): void {
    this.connectHandlers.push(fn);
  }

  start(): void {
    this.open();
  }

  send(msg: ClientStreamMessage): void {
    if (this.call && this.connected) {
      this.call.write(msg);
      return;
    }
    this.queue.push(msg);
    const max = this.o.maxQueued ?? 10_000;
    if (this.queue.length > max) {
      const i = this.queue.findIndex((m) => "agent_log" in m);
      this.queue.splice(i >= 0 ? i : 0, 1);
    }
  }

  queued(): number {
    return this.queue.length;
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.call?.cancel();
    this.call = null;
    this.client.close();
  }

  private open(): void {
    if (this.closed) return;
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.o.metadata ?? {})) md.set(k, v);
    const call = (this.client.Process as unknown as (m: grpc.Metadata) => grpc.ClientDuplexStream<ClientStreamMessage, ServerStreamMessage>)(md);
    this.call = call;
    let ended = false;
    const fail = (why: string) => {
      if (ended) return;
      ended = true;
      const was = this.connected;
      this.connected = false;
      if (this.call === call) this.call = null;
      if (this.closed) return;
      this.o.log.warn(was ? "computations server stream ended; reconnecting" : "computations server unreachable; retrying", {
        url: this.o.url,
        error: why,
        retry_in_ms: this.backoff,
      });
      this.retryTimer = setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.o.maxBackoffMs, Math.round(this.backoff * 1.5));
    };
    call.on("metadata", () => this.markUp(call));
    call.on("data", (m: ServerStreamMessage) => {
      this.markUp(call);
      for (const h of this.handlers) {
        try {
          h(m);
        } catch (e) {
          this.o.log.error("handling a computations-server message failed", { error: e as Error });
        }
      }
    });
    call.on("error", (e: grpc.ServiceError) => fail(e.details || e.message));
    call.on("end", () => fail("server closed the stream"));
    // grpc-js sends headers lazily; an empty write is not allowed, so wait for the channel instead.
    this.client.waitForReady(Date.now() + 5000, (err) => {
      if (!err && this.call === call) this.markUp(call);
    });
  }

  private markUp(call: grpc.ClientDuplexStream<ClientStreamMessage, ServerStreamMessage>): void {
    if (this.connected || this.call !== call) return;
    this.connected = true;
    this.connects++;
    this.backoff = this.o.initialBackoffMs;
    this.o.log.info("connected to the computations server", { url: this.o.url, queued: this.queue.length });
    const pending = this.queue;
    this.queue = [];
    for (const m of pending) call.write(m);
    for (const h of this.connectHandlers) h();
  }
}

function credentials(o: ServerLinkOptions): grpc.ChannelCredentials {
  if (!o.serverCaCerts) return grpc.credentials.createInsecure();
  const ca = certificateFileAsPem(o.serverCaCerts, "MANAGER_GRPC_SERVER_CA_CERTS"); // PEM or DER
  if (o.clientCert && o.clientKey) return grpc.credentials.createSsl(ca, readFileSync(o.clientKey), certificateFileAsPem(o.clientCert, "MANAGER_GRPC_CLIENT_CERT"));
  return grpc.credentials.createSsl(ca);
}
