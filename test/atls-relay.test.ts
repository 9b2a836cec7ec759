// The attested-TLS relay attack, through the compiled cocos-cli. A man in the middle with its own
// TLS key reads the client's nonce from the SNI, asks the real agent's Attestation RPC (which needs
// no signature) for evidence over SHA3-512(its SPKI ‖ that nonce), puts that evidence into its own
// certificate and would proxy plaintext. Domain separation makes that evidence say "Attestation
// RPC", so the CLI refuses before sending anything, and the agent receives nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as tls from "node:tls";
import { strToU8 } from "fflate";
import { connectAttested, makeAttestedCertificate, sniToNonce } from "../attestation/atls.ts";
import { formatPolicy, trustSimRoot } from "../attestation/policy.ts";
import { SimProvider } from "../attestation/providers/sim.ts";
import type { Evidence } from "../attestation/providers/types.ts";
import { atlsReportData, unlabelledAtlsBinding } from "../attestation/report-data.ts";
import { pemEncode } from "../protocol/keys.ts";
import { agentProto } from "../protocol/proto.ts";
import { ed, startTestAgent, type TestAgent } from "../agent/testkit.ts";

const CLI = resolve(import.meta.dir, "..", "dist", "cocos-cli");
const algoKey = ed();
const algorithm = strToU8("#!/bin/sh\necho hi > /cocos/results/out\n");
const sim = new SimProvider({ hostData: new Uint8Array(32) });
let t: TestAgent;
let dir: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`bun run build\``);
  dir = mkdtempSync(join(tmpdir(), "atls-relay-"));
  t = await startTestAgent({ algorithm, algoKey, datasets: [{ bytes: strToU8("d"), filename: "d", key: algoKey }], consumers: [algoKey], provider: sim, agentConfig: { attested_tls: true } });
  writeFileSync(join(dir, "algo.sh"), algorithm);
  writeFileSync(join(dir, "private.pem"), pemEncode("PRIVATE KEY", algoKey.export({ type: "pkcs8", format: "der" })));
  writeFileSync(join(dir, "policy.json"), formatPolicy(trustSimRoot({}, sim.root.arkSha256)));
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** How the relay obtains evidence for (its SPKI, the client's nonce). */
type Oracle = (spki: Uint8Array, nonce: Uint8Array) => Promise<Evidence>;

/** The agent's unauthenticated Attestation RPC, reached over the agent's own aTLS front. */
async function agentRpc(teeNonce: Uint8Array): Promise<Uint8Array> {
  const port = t.agent.grpcPort;
  const conn = await connectAttested("127.0.0.1", port, trustSimRoot({}, sim.root.arkSha256));
  const creds = grpc.credentials.createSsl(Buffer.from(conn.rootCertPem!), null, null, { checkServerIdentity: conn.checkServerIdentity as never });
  const client = new agentProto.AgentService(`127.0.0.1:${port}`, creds, conn.channelOptions) as unknown as grpc.Client & Record<string, Function>;
  try {
    const call = client.Attestation({ teeNonce, type: 0 }, new grpc.Metadata()) as grpc.ClientReadableStream<{ file: Buffer }>;
    const parts: Buffer[] = [];
    await new Promise<void>((res, rej) => call.on("data", (m) => parts.push(m.file)).on("error", rej).on("end", res));
    return Buffer.concat(parts);
  } finally {
    client.close();
  }
}

const viaRpc =
  (binding: (spki: Uint8Array, nonce: Uint8Array) => Uint8Array): Oracle =>
  async (spki, nonce) => ({ kind: "sim", data: await agentRpc(binding(spki, nonce)), source: "relay", simulated: true });

interface Relay {
  port: number;
  /** Decrypted bytes the relay saw from the client. */
  plaintext: number;
  certificates: number;
  close(): Promise<void>;
}

/** TLS with its own key; per SNI nonce a certificate carrying the oracle's evidence; pipes to the agent. */
async function startRelay(oracle: Oracle, agentPort = t.agent.grpcPort): Promise<Relay> {
  const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "pem", type: "pkcs1" }) as string;
  const spki = new Uint8Array(createPublicKey(key).export({ format: "der", type: "spki" }));
  const fallback = makeAttestedCertificate(key, { kind: "sim", data: new Uint8Array(0), source: "relay", simulated: true });
  const sockets = new Set<net.Socket>();
  // Like the agent: one certificate per nonce, so the channel's own handshake meets the pinned one.
  const certs = new Map<string, Promise<string>>();
  const certFor = (nonce: Uint8Array) => {
    const k = Buffer.from(nonce).toString("hex");
    if (!certs.has(k)) certs.set(k, oracle(spki, nonce).then((ev) => (relay.certificates++, makeAttestedCertificate(key, ev).certPem)));
    return certs.get(k)!;
  };
  const relay: Relay = { port: 0, plaintext: 0, certificates: 0, close: async () => {} };
  const server = tls.createServer({
    key,
    cert: fallback.certPem,
    ALPNProtocols: ["h2"],
    SNICallback: (servername, cb) => {
      const nonce = sniToNonce(servername);
      if (!nonce) return cb(null, tls.createSecureContext({ key, cert: fallback.certPem }));
      certFor(nonce).then(
        (cert) => cb(null, tls.createSecureContext({ key, cert })),
        (e) => cb(e as Error),
      );
    },
  });
  server.on("secureConnection", (client: tls.TLSSocket) => {
    const up = tls.connect({ host: "127.0.0.1", port: agentPort, servername: client.servername || "localhost", rejectUnauthorized: false, ALPNProtocols: ["h2"] });
    sockets.add(client).add(up);
    client.on("data", (d: Buffer) => (relay.plaintext += d.length));
    client.pipe(up).pipe(client);
    for (const s of [client, up]) s.on("error", () => {}).on("close", () => (client.destroy(), up.destroy()));
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  relay.port = (server.address() as net.AddressInfo).port;
  relay.close = () => new Promise<void>((res) => (sockets.forEach((s) => s.destroy()), server.close(() => res())));
  return relay;
}

async function cliAlgo(port: number): Promise<{ code: number; out: string }> {
  const p = Bun.spawn([CLI, "algo", "algo.sh", "private.pem", "-a", "bin"], {
    cwd: dir,
    env: { ...process.env, AGENT_GRPC_URL: `127.0.0.1:${port}`, COCOS_COMPUTATION_ID: t.manifest.id, AGENT_GRPC_ATTESTED_TLS: "true", AGENT_GRPC_ATTESTATION_POLICY: join(dir, "policy.json"), AGENT_GRPC_TIMEOUT: "20s" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out: out + err };
}

describe("a relay with its own key and evidence from the agent's Attestation RPC", () => {
  const cases: [string, Oracle, RegExp][] = [
    ["RPC evidence over SHA3-512(relay SPKI ‖ nonce)", viaRpc(unlabelledAtlsBinding), /atls\.wrong_context: evidence was produced for the Attestation RPC, not for attested TLS/],
    ["RPC evidence over the aTLS-labelled binding of the relay's key", viaRpc(atlsReportData), /atls\.wrong_context: evidence was produced for the Attestation RPC, not for attested TLS/],
    // An oracle that signs raw caller data (an agent without domain separation, same sim root).
    ["raw evidence with the old unlabelled binding", async (spki, nonce) => sim.getEvidence(unlabelledAtlsBinding(spki, nonce)), /atls\.wrong_context: evidence carries the unlabelled SHA3-512\(SPKI ‖ nonce\) binding/],
  ];
  for (const [name, oracle, reason] of cases) {
    test(`${name}: cocos-cli refuses with the named reason; the agent receives nothing`, async () => {
      const before = t.agent.computation.state;
      const relay = await startRelay(oracle);
      try {
        const r = await cliAlgo(relay.port);
        expect(r.code, r.out).not.toBe(0);
        expect(r.out).toMatch(reason);
        expect(r.out).toContain("nothing was sent");
        expect(relay.certificates).toBeGreaterThan(0); // the relay did mount the attack
        expect(relay.plaintext).toBe(0);
        expect(t.agent.computation.state).toBe(before);
        expect(t.agent.metrics.uploads.size).toBe(0); // not even a rejected upload reached it
      } finally {
        await relay.close();
      }
    });
  }

  test("control: the relay itself works; given aTLS-labelled evidence for its key (no agent interface signs that), the upload flows through it, and the agent still refuses it: the v2 signature names the relay's key", async () => {
    const other = await startTestAgent({ algorithm, algoKey, datasets: [{ bytes: strToU8("d"), filename: "d", key: algoKey }], consumers: [algoKey], provider: sim, agentConfig: { attested_tls: true } });
    const relay = await startRelay((spki, nonce) => sim.getEvidence(atlsReportData(spki, nonce)), other.agent.grpcPort);
    try {
      const r = await cliAlgo(relay.port);
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toMatch(/signature audience mismatch/);
      expect(relay.plaintext).toBeGreaterThan(algorithm.length);
      expect(other.agent.computation.state).toBe("ReceivingAlgorithm");
    } finally {
      await relay.close();
      await other.close();
    }
  });

  test("positive control: without the relay the same upload goes through", async () => {
    expect(t.agent.computation.state).toBe("ReceivingAlgorithm");
    const r = await cliAlgo(t.agent.grpcPort);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("Attestation verified");
    expect(t.agent.computation.state).toBe("ReceivingData");
  });
});
