// The connection guard in front of a grpc-js server on a Unix socket: handshake timeout, idle
// timeout that spares open RPCs, per-client cap. Adversary: any network peer holding sockets open.
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startGuardedFront, type GuardEvent, type GuardLimits } from "./conn-guard.ts";

const id = (x: Buffer) => x;
const svc = {
  upload: { path: "/t.T/Upload", requestStream: true, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  wait: { path: "/t.T/Wait", requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
};
const Client = grpc.makeGenericClientConstructor(svc as never, "T");
type TClient = grpc.Client & Record<string, Function>;

let dir: string;
let sock: string;
let server: grpc.Server;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "conn-guard-"));
  sock = join(dir, "grpc.sock");
  server = new grpc.Server();
  server.addService(svc as never, {
    upload: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      let n = 0;
      call.on("data", (b: Buffer) => (n += b.length));
      call.on("end", () => cb(null, Buffer.from(String(n))));
    },
    // Like Result: nothing on the wire until the answer is ready.
    wait: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => setTimeout(() => cb(null, call.request), Number(call.request.toString())),
  });
  await new Promise<void>((res, rej) => server.bindAsync(`unix:${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
});
afterAll(() => {
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

async function front(limits: Partial<GuardLimits>) {
  const events: GuardEvent[] = [];
  const f = await startGuardedFront({ backend: sock, listen: { host: "127.0.0.1" }, limits, onClose: (e) => events.push(e) });
  return { f, events };
}

const closed = (s: net.Socket) => new Promise<void>((res) => (s.destroyed ? res() : s.once("close", () => res())));
const connect = (port: number) =>
  new Promise<net.Socket>((res, rej) => {
    const s = net.connect(port, "127.0.0.1", () => res(s));
    s.on("error", rej).on("data", () => {}); // flowing, so the peer's close is seen
  });
/** Bounded wait for a condition (no timing asserts: only "eventually, within a generous bound"). */
async function until(cond: () => boolean, what: string, ms = 10_000) {
  for (const end = Date.now() + ms; !cond(); await Bun.sleep(20)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

test("a socket that connects and sends nothing is closed after the handshake timeout", async () => {
  const { f, events } = await front({ handshakeTimeoutMs: 200, idleTimeoutMs: 60_000 });
  try {
    const s = await connect(f.port);
    await closed(s);
    expect(events).toEqual(["handshake_timeout"]);
  } finally {
    await f.close();
  }
});

test("a partial HTTP/2 preface does not count as a handshake; a non-HTTP/2 client is dropped at once", async () => {
  const { f, events } = await front({ handshakeTimeoutMs: 200, idleTimeoutMs: 60_000 });
  try {
    const slow = await connect(f.port);
    slow.write("PRI * HTTP/2.0\r\n");
    await closed(slow);
    const http1 = await connect(f.port);
    http1.write("GET / HTTP/1.1\r\n\r\n");
    await closed(http1);
    expect(events.sort()).toEqual(["handshake_timeout", "not_http2"]);
  } finally {
    await f.close();
  }
});

test("100 idle connections from one client: all beyond the cap are closed at once", async () => {
  const { f, events } = await front({ handshakeTimeoutMs: 60_000, idleTimeoutMs: 60_000, maxConnsPerClient: 5 });
  const socks: net.Socket[] = [];
  try {
    for (let i = 0; i < 100; i++) socks.push(await connect(f.port).then((s) => (s.on("error", () => {}), s)));
    await until(() => socks.filter((s) => s.destroyed).length >= 95, "95 refused connections");
    await Bun.sleep(100);
    expect(socks.filter((s) => !s.destroyed).length).toBe(5);
    expect(events.filter((e) => e === "too_many_connections").length).toBe(95);
    expect(f.connections().get("127.0.0.1")).toBe(5);
    // Closing them frees the slots for the next connection.
    for (const s of socks) s.destroy();
    await until(() => !f.connections().has("127.0.0.1"), "slots freed");
    const again = await connect(f.port);
    await Bun.sleep(100);
    expect(again.destroyed).toBe(false);
    again.destroy();
  } finally {
    for (const s of socks) s.destroy();
    await f.close();
  }
});

test("idle timeout: a connected gRPC channel with no RPC is closed; a slow upload and a long wait are not", async () => {
  const { f, events } = await front({ handshakeTimeoutMs: 5_000, idleTimeoutMs: 300 });
  const client = new Client(`127.0.0.1:${f.port}`, grpc.credentials.createInsecure()) as TClient;
  try {
    // Slow upload: pauses longer than the idle timeout between chunks, while the stream is open.
    const reply = new Promise<string>((res, rej) => {
      const call = client.upload((e: Error | null, v: Buffer) => (e ? rej(e) : res(v.toString())));
      (async () => {
        for (let i = 0; i < 3; i++) {
          call.write(Buffer.alloc(1000));
          await Bun.sleep(700);
        }
        call.end();
      })();
    });
    expect(await reply).toBe("3000");
    // A long server-side wait with no bytes either way (Result before the run ends).
    const waited = await new Promise<string>((res, rej) => client.wait(Buffer.from("900"), (e: Error | null, v: Buffer) => (e ? rej(e) : res(v.toString()))));
    expect(waited).toBe("900");
    expect(events).toEqual([]);
    // Then nothing: the channel's connection is idle and gets closed.
    await until(() => events.includes("idle_timeout"), "the idle connection to be closed");
    await until(() => f.connections().size === 0, "no connection left");
  } finally {
    client.close();
    await f.close();
  }
});
