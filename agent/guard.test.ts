// Every port the agent listens on is guarded: the gRPC port (plaintext here; TLS and aTLS go through
// the same front) and the HTTP port. Adversary: a network peer that opens sockets and holds them.
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { strToU8 } from "fflate";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentProto } from "../protocol/proto.ts";
import { loadConfig } from "./config.ts";
import { httpApp, serveHttp } from "./http.ts";
import { Metrics } from "./metrics.ts";
import { ed, startTestAgent, uploadAlgo, metadata, v1, type TestAgent } from "./testkit.ts";

const algoKey = ed();
const script = strToU8("#!/bin/sh\n");
let t: TestAgent;
beforeAll(async () => {
  t = await startTestAgent({
    algorithm: script,
    algoKey,
    datasets: [{ bytes: strToU8("d"), filename: "d", key: algoKey }],
    consumers: [algoKey],
    config: { guard: { handshakeTimeoutMs: 300, idleTimeoutMs: 60_000, maxConnsPerClient: 8 } },
  });
});
afterAll(() => t?.close());

const silent = (port: number) =>
  new Promise<net.Socket>((res, rej) => {
    const s = net.connect(port, "127.0.0.1", () => res(s));
    s.on("error", rej).on("data", () => {});
  });
const closed = (s: net.Socket) => new Promise<void>((res) => (s.destroyed ? res() : s.once("close", () => res())));

test("AGENT_HANDSHAKE_TIMEOUT / AGENT_IDLE_TIMEOUT / AGENT_MAX_CONNS_PER_CLIENT: Go durations, checked", () => {
  const c = loadConfig({ AGENT_HANDSHAKE_TIMEOUT: "5s", AGENT_IDLE_TIMEOUT: "2m", AGENT_MAX_CONNS_PER_CLIENT: "4" });
  expect(c.guard).toEqual({ handshakeTimeoutMs: 5000, idleTimeoutMs: 120_000, maxConnsPerClient: 4 });
  expect(loadConfig({}).guard.handshakeTimeoutMs).toBeGreaterThan(0);
  expect(() => loadConfig({ AGENT_IDLE_TIMEOUT: "soon" })).toThrow(/AGENT_IDLE_TIMEOUT: expected a duration/);
  expect(() => loadConfig({ AGENT_HANDSHAKE_TIMEOUT: "0s" })).toThrow(/must be a positive duration/);
  expect(() => loadConfig({ AGENT_MAX_CONNS_PER_CLIENT: "0" })).toThrow(/AGENT_MAX_CONNS_PER_CLIENT must be an integer ≥ 1/);
});

test("gRPC port: a silent socket is closed after the handshake timeout, and the agent logs it", async () => {
  const s = await silent(t.agent.grpcPort);
  await closed(s);
  expect(t.logs.some((l) => l.includes("connection closed by the guard") && l.includes("handshake_timeout"))).toBe(true);
});

test("gRPC port: connections beyond the per-client cap are refused; the agent still serves", async () => {
  const socks = await Promise.all(Array.from({ length: 20 }, () => silent(t.agent.grpcPort)));
  try {
    for (let end = Date.now() + 10_000; socks.filter((s) => s.destroyed).length < 12 && Date.now() < end; ) await Bun.sleep(20);
    expect(socks.filter((s) => s.destroyed).length).toBe(12);
  } finally {
    for (const s of socks) s.destroy();
  }
  // Logged once for the flood, not once per connection.
  expect(t.logs.filter((l) => l.includes("too_many_connections")).length).toBe(1);
  // Once the refused and the released sockets are gone, a legitimate client gets in (bounded retries
  // while the agent sees the closes).
  let r = await uploadAlgo(t, metadata({ ...v1(algoKey, "algorithm-provider"), algo_type: "bin" }), script);
  for (let i = 0; i < 20 && r.code === 14; i++) {
    await Bun.sleep(100);
    r = await uploadAlgo(t, metadata({ ...v1(algoKey, "algorithm-provider"), algo_type: "bin" }), script);
  }
  expect(r.code).toBe(0);
});

test("HTTP port: a kept-alive connection with no traffic is closed after the idle timeout", async () => {
  // Bun.serve applies idleTimeout in steps of about 4 s (and drops sockets that never send a request after ~12 s).
  const srv = serveHttp(httpApp(new Metrics(() => "Idle"), { state: () => "x", computationId: () => "c" }), "127.0.0.1", 0, 1000);
  try {
    const s = await silent(srv.port!);
    const answered = new Promise((res) => s.once("data", res));
    s.write("GET /health HTTP/1.1\r\nHost: agent\r\n\r\n");
    await answered;
    await closed(s);
  } finally {
    srv.stop(true);
  }
});

test("TLS and mTLS from the manifest are terminated by the guarded front: a client without a certificate is refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "agent-mtls-"));
  const ssl = (...args: string[]) => {
    const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
  };
  ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test-ca");
  for (const who of ["server", "client"]) {
    ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${who}.key`, "-out", `${who}.csr`, "-subj", `/CN=${who === "server" ? "localhost" : "client"}`);
    ssl("x509", "-req", "-in", `${who}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${who}.pem`, "-days", "1");
  }
  const f = (n: string) => readFileSync(join(dir, n), "utf8");
  const m = await startTestAgent({ algorithm: script, algoKey, datasets: [{ bytes: strToU8("d"), filename: "d", key: algoKey }], consumers: [algoKey], agentConfig: { cert_file: f("server.pem"), key_file: f("server.key"), client_ca_file: f("ca.pem") } });
  try {
    const opts = { "grpc.ssl_target_name_override": "localhost", "grpc.initial_reconnect_backoff_ms": 50 };
    const upload = (creds: grpc.ChannelCredentials) =>
      new Promise<number>((res) => {
        const c = new agentProto.AgentService(`127.0.0.1:${m.agent.grpcPort}`, creds, opts) as unknown as grpc.Client & Record<string, Function>;
        const call = c.Algo(metadata({ ...v1(algoKey, "algorithm-provider"), algo_type: "bin" }), { deadline: Date.now() + 3000 }, (e: { code: number } | null) => (c.close(), res(e?.code ?? 0)));
        call.write({ algorithm: script });
        call.end();
      });
    expect(await upload(grpc.credentials.createSsl(Buffer.from(f("ca.pem"))))).not.toBe(0);
    expect(m.agent.computation.state).toBe("ReceivingAlgorithm");
    expect(await upload(grpc.credentials.createSsl(Buffer.from(f("ca.pem")), Buffer.from(f("client.key")), Buffer.from(f("client.pem"))))).toBe(0);
    expect(m.agent.computation.state).toBe("ReceivingData");
  } finally {
    await m.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
