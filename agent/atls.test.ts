// A manifest with attested_tls: the only network entry is the attested-TLS front; a client that
// verified the evidence uploads over it, a plaintext client gets nowhere.
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import * as net from "node:net";
import * as tls from "node:tls";
import { strToU8 } from "fflate";
import { connectAttested } from "../attestation/atls.ts";
import { trustSimRoot } from "../attestation/policy.ts";
import { SimProvider } from "../attestation/providers/sim.ts";
import { agentProto } from "../protocol/proto.ts";
import { ed, metadata, startTestAgent, v1, type TestAgent } from "./testkit.ts";

const algoKey = ed();
const script = strToU8("#!/bin/sh\n");
const sim = new SimProvider({ hostData: new Uint8Array(32) });
let t: TestAgent;
beforeAll(async () => {
  t = await startTestAgent({ algorithm: script, algoKey, datasets: [{ bytes: strToU8("d"), filename: "d", key: algoKey }], consumers: [algoKey], provider: sim, agentConfig: { attested_tls: true }, config: { guard: { handshakeTimeoutMs: 400, idleTimeoutMs: 60_000, maxConnsPerClient: 16 } } });
});
afterAll(() => t?.close());

const upload = (client: grpc.Client & Record<string, Function>) =>
  new Promise<grpc.ServiceError | null>((resolve) => {
    const call = client.Algo(metadata({ ...v1(algoKey, "algorithm-provider"), algo_type: "bin" }), (e: grpc.ServiceError | null) => resolve(e));
    call.write({ algorithm: script });
    call.end();
  });

test("verified aTLS client uploads; plaintext client is refused", async () => {
  const conn = await connectAttested("127.0.0.1", t.agent.grpcPort, trustSimRoot({}, sim.root.arkSha256));
  expect(conn.verdict.ok).toBe(true);
  expect(conn.verdict.simulated).toBe(true);
  const creds = grpc.credentials.createSsl(Buffer.from(conn.rootCertPem!), null, null, { checkServerIdentity: conn.checkServerIdentity as never });
  const client = new agentProto.AgentService(`127.0.0.1:${t.agent.grpcPort}`, creds, conn.channelOptions) as unknown as grpc.Client & Record<string, Function>;
  expect(await upload(client)).toBeNull();
  client.close();
  expect(t.agent.computation.state).toBe("ReceivingData");

  const plain = new agentProto.AgentService(`127.0.0.1:${t.agent.grpcPort}`, grpc.credentials.createInsecure(), { "grpc.initial_reconnect_backoff_ms": 50 }) as unknown as grpc.Client & Record<string, Function>;
  const err = await new Promise<grpc.ServiceError | null>((resolve) => {
    const call = plain.Data(metadata(v1(algoKey, "data-provider")), { deadline: Date.now() + 2000 }, (e: grpc.ServiceError | null) => resolve(e));
    call.write({ dataset: strToU8("d"), filename: "d" });
    call.end();
  });
  plain.close();
  expect(err?.code === grpc.status.UNAVAILABLE || err?.code === grpc.status.DEADLINE_EXCEEDED).toBe(true);
  expect(t.agent.computation.state).toBe("ReceivingData");
});

test("a policy naming another sim root refuses the agent", async () => {
  const other = new SimProvider({});
  const conn = await connectAttested("127.0.0.1", t.agent.grpcPort, trustSimRoot({}, other.root.arkSha256));
  expect(conn.verdict.ok).toBe(false);
});

test("the aTLS port is guarded: no TLS handshake, or TLS without the HTTP/2 preface, is closed after the handshake timeout", async () => {
  const raw = net.connect(t.agent.grpcPort, "127.0.0.1").on("data", () => {}).on("error", () => {});
  const tlsOnly = tls.connect({ host: "127.0.0.1", port: t.agent.grpcPort, rejectUnauthorized: false, ALPNProtocols: ["h2"] }).on("data", () => {}).on("error", () => {});
  const secured = new Promise((res) => tlsOnly.once("secureConnect", res));
  await Promise.all([new Promise((res) => raw.once("close", res)), new Promise((res) => tlsOnly.once("close", res))]);
  await secured; // the TLS handshake itself did complete: it is the missing preface that counts
  expect(t.logs.some((l) => l.includes("handshake_timeout"))).toBe(true); // one warning per 10 s window
});
