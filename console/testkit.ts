// Test and bench helpers: a store on each database the console supports (PostgreSQL from
// COCOS_TEST_POSTGRES_URL, set by scripts/test-all.sh; each store gets a fresh database, dropped
// after) and a stand-in manager that dials the console.
import * as grpc from "@grpc/grpc-js";
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { managerProto, ComputationRunReqType, decodeMessage, timestampFromDate } from "../protocol/proto.ts";
import { openDb } from "./db.ts";
import { Store } from "./store.ts";

export const POSTGRES_URL = process.env.COCOS_TEST_POSTGRES_URL ?? "";

export interface TestDb {
  name: "sqlite" | "postgres";
  /** A database URL for CONSOLE_DB, fresh for each call. */
  url(): Promise<string>;
  cleanup(): Promise<void>;
}

export function testDatabases(tmpDir: () => string): TestDb[] {
  const made: string[] = [];
  const out: TestDb[] = [
    { name: "sqlite", url: async () => `sqlite:${tmpDir()}/console-${crypto.randomUUID()}.db`, cleanup: async () => {} },
  ];
  if (POSTGRES_URL) {
    out.push({
      name: "postgres",
      url: async () => {
        const name = `cocos_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
        const admin = new Bun.SQL(POSTGRES_URL);
        await admin.unsafe(`CREATE DATABASE ${name}`);
        await admin.close();
        made.push(name);
        const u = new URL(POSTGRES_URL);
        u.pathname = `/${name}`;
        return u.toString();
      },
      cleanup: async () => {
        const admin = new Bun.SQL(POSTGRES_URL);
        await Promise.all(made.splice(0).map((n) => admin.unsafe(`DROP DATABASE IF EXISTS ${n} WITH (FORCE)`).catch(() => {})));
        await admin.close();
      },
    });
  } else {
    console.warn("[console tests] COCOS_TEST_POSTGRES_URL is not set: the console's PostgreSQL tests (store, API) are SKIPPED (scripts/test-all.sh starts a server and sets it)");
  }
  return out;
}

/** testDatabases in a fresh temp dir `prefix…`; after the test file every database is dropped and the dir removed. */
export function testDatabasesInTmp(prefix: string): TestDb[] {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const dbs = testDatabases(() => dir);
  afterAll(async () => {
    for (const d of dbs) await d.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
  return dbs;
}

export async function openStore(url: string): Promise<Store> {
  return Store.open(await openDb(url));
}

/** One API call with a bearer token (no cookie, so no CSRF header); `body` is the parsed JSON, or the text when it is not JSON. */
export async function bearerCall(url: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }> {
  const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  try {
    return { status: r.status, body: JSON.parse(text), text };
  } catch {
    return { status: r.status, body: text, text };
  }
}

/** Registers `name` (password `<name>-password`) and returns a bearer token of theirs. */
export async function registerUser(url: string, name: string): Promise<string> {
  const anon = (path: string, body: unknown) => fetch(url + path, { method: "POST", headers: { "content-type": "application/json", "x-cocos-csrf": "1" }, body: JSON.stringify(body) });
  const reg = await anon("/api/auth/register", { username: name, password: `${name}-password` });
  if (reg.status !== 201) throw new Error(`registering ${name}: expected 201, got ${reg.status} ${await reg.text()}`);
  return ((await (await anon("/api/auth/token", { username: name, password: `${name}-password` })).json()) as { token: string }).token;
}


/** A stand-in manager: dials the console's gRPC port with an id and token, records what it is sent. */
export class FakeManager {
  readonly received: Record<string, unknown>[] = [];
  readonly runs: { id: string }[] = [];
  private chunks: Uint8Array[] = [];
  private client: grpc.Client & { Process(md: grpc.Metadata): grpc.ClientDuplexStream<unknown, Record<string, unknown>> };
  private call: grpc.ClientDuplexStream<unknown, Record<string, unknown>> | null = null;
  /** The status the console ended the stream with (refusals). */
  ended: Promise<grpc.StatusObject | grpc.ServiceError>;
  private endedResolve!: (s: grpc.StatusObject | grpc.ServiceError) => void;

  constructor(readonly url: string, readonly id: string, readonly token: string, serverCa?: Buffer) {
    const creds = serverCa ? grpc.credentials.createSsl(serverCa) : grpc.credentials.createInsecure();
    this.client = new managerProto.ManagerService(url, creds, serverCa ? { "grpc.ssl_target_name_override": "localhost" } : {}) as unknown as FakeManager["client"];
    this.ended = new Promise((r) => (this.endedResolve = r));
  }

  connect(): this {
    const md = new grpc.Metadata();
    if (this.id) md.set("cocos-manager-id", this.id);
    if (this.token) md.set("cocos-manager-token", this.token);
    md.set("cocos-manager-backend", "fake");
    this.ended = new Promise((r) => (this.endedResolve = r));
    const call = this.client.Process(md);
    this.call = call;
    call.on("data", (m: Record<string, unknown>) => {
      this.received.push(m);
      const ch = m.runReqChunks as { data: Uint8Array; id: string; is_last: boolean } | undefined;
      if (ch) {
        if (!ch.is_last) this.chunks.push(ch.data);
        else {
          const req = decodeMessage<{ id: string }>(ComputationRunReqType, Buffer.concat(this.chunks));
          this.chunks = [];
          this.runs.push(req);
        }
      }
    });
    call.on("error", (e: grpc.ServiceError) => this.endedResolve(e));
    call.on("status", (s: grpc.StatusObject) => this.endedResolve(s));
    return this;
  }

  send(m: Record<string, unknown>): void {
    this.call?.write(m);
  }

  event(computationId: string, eventType: string, status: string, originator = "agent", details = ""): void {
    this.send({ agent_event: { event_type: eventType, status, computation_id: computationId, originator, details: Buffer.from(details), timestamp: timestampFromDate() } });
  }

  disconnect(): void {
    this.call?.cancel();
    this.call = null;
  }

  close(): void {
    this.disconnect();
    this.client.close();
  }
}

/** Polls `fn` until it returns a truthy value (bounded: `tries` × `everyMs`). */
export async function until<T>(fn: () => Promise<T> | T, what: string, tries = 200, everyMs = 25): Promise<NonNullable<T>> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}
