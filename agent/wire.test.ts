// Wire compatibility: drives the agent process (agent/main.ts) with a client built ONLY from
// proto/agent.proto (proto-loader + grpc-js + node:crypto), no project code on the client side.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rpcReportData } from "../attestation/report-data.ts";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unzipSync } from "fflate";

const dir = mkdtempSync(join(tmpdir(), "agent-wire-"));
const key = generateKeyPairSync("ed25519");
const spki = key.publicKey.export({ type: "spki", format: "der" }).toString("base64");
const algorithm = Buffer.from("#!/bin/sh\nprintf 'wire ok %s' \"$1\" > results/out.txt\n");
const sha3 = (b: Buffer) => [...createHash("sha3-256").update(b).digest()];
let proc: ReturnType<typeof Bun.spawn>;
let manifestJson = "";
let client: grpc.Client & Record<string, Function>;

beforeAll(async () => {
  const manifest = { id: "wire-1", name: "wire", algorithm: { hash: sha3(algorithm), user_key: spki }, result_consumers: [{ user_key: spki }], agent_config: { host: "127.0.0.1", port: "0" } };
  // Key order and omitted empty fields already follow Go's encoding/json, so this is the canonical form.
  manifestJson = JSON.stringify(manifest);
  writeFileSync(join(dir, "manifest.json"), manifestJson);
  // COCOS_AGENT_BIN=dist/cocos-agent runs the same test against the compiled binary.
  const argv = process.env.COCOS_AGENT_BIN ? [process.env.COCOS_AGENT_BIN] : [process.execPath, join(import.meta.dir, "main.ts")];
  proc = Bun.spawn([...argv, "--manifest", join(dir, "manifest.json")], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", AGENT_ATTESTATION: "sim", AGENT_SIM_STATE_DIR: join(dir, "sim"), AGENT_LOG_LEVEL: "info" },
    stdout: "pipe",
    stderr: "inherit",
  });
  let port = 0;
  const decoder = new TextDecoder();
  let buf = "";
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  while (!port) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`agent exited before it was ready:\n${buf}`);
    buf += decoder.decode(value);
    const m = /"msg":"agent ready".*?"grpc_port":(\d+)/.exec(buf);
    if (m) port = Number(m[1]);
  }
  reader.releaseLock();
  void (proc.stdout as ReadableStream).pipeTo(new WritableStream()).catch(() => {});
  const def = protoLoader.loadSync(join(import.meta.dir, "..", "proto", "agent.proto"), { keepCase: true, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { agent: { AgentService: grpc.ServiceClientConstructor } };
  client = new pkg.agent.AgentService(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as typeof client;
});

afterAll(async () => {
  client?.close();
  proc?.kill();
  await proc?.exited;
  rmSync(dir, { recursive: true, force: true });
});

const roleMd = (role: string, extra: Record<string, string> = {}) => {
  const md = new grpc.Metadata();
  md.set("user-id", role);
  md.set("signature", sign(null, Buffer.from(role), key.privateKey).toString("base64"));
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
};

test("Algo (Cocos v1 signature, bin) → automatic run → Result zip with file-size header", async () => {
  const err = await new Promise<grpc.ServiceError | null>((resolve) => {
    const call = client.Algo(roleMd("algorithm-provider", { algo_type: "bin", algo_args: "42" }), (e: grpc.ServiceError | null) => resolve(e));
    call.write({ algorithm });
    call.end();
  });
  expect(err).toBeNull();
  let result: { code: number; size: number; bytes: Buffer } | null = null;
  for (let i = 0; i < 100; i++) {
    result = await new Promise((resolve) => {
      const call = client.Result({}, roleMd("consumer"));
      const parts: Buffer[] = [];
      let size = -1;
      call.on("metadata", (m: grpc.Metadata) => (size = Number(m.get("file-size")[0])));
      call.on("data", (d: { file: Buffer }) => parts.push(d.file));
      call.on("error", () => {});
      call.on("status", (s: grpc.StatusObject) => resolve({ code: s.code, size, bytes: Buffer.concat(parts) }));
    });
    if (result!.code !== grpc.status.FAILED_PRECONDITION) break;
    await Bun.sleep(50);
  }
  expect(result!.code).toBe(grpc.status.OK);
  expect(result!.size).toBe(result!.bytes.length);
  expect(new TextDecoder().decode(unzipSync(new Uint8Array(result!.bytes))["out.txt"])).toBe("wire ok 42");
});

test("Attestation with teeNonce (field 1) returns an SNP-shaped report carrying it under the RPC label", async () => {
  const nonce = Buffer.alloc(64, 0xab);
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    const call = client.Attestation({ teeNonce: nonce, type: 0 });
    const parts: Buffer[] = [];
    call.on("data", (d: { file: Buffer }) => parts.push(d.file));
    call.on("error", reject);
    call.on("end", () => resolve(Buffer.concat(parts)));
  });
  expect(bytes.length).toBeGreaterThanOrEqual(0x4a0);
  expect(bytes.subarray(0x50, 0x90).equals(rpcReportData(nonce))).toBe(true);
  // HOST_DATA binds the manifest: SHA3-256 of its canonical JSON.
  expect([...bytes.subarray(0xc0, 0xe0)]).toEqual(sha3(Buffer.from(manifestJson)));
});
