import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ComputationRunReqType, decodeMessage, managerProto, timestampFromDate } from "../protocol/proto.ts";
import { sha3_256, toHex } from "../protocol/hash.ts";
import { generateKeyPair, loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { manifestFromRunReq, manifestHash, manifestToJSON, type Manifest, type RunReqObject } from "../protocol/manifest.ts";
import { formatClientMessage, runReqChunkMessages, type ComputationsServer } from "./computations-server.ts";
import { runCli } from "./program.ts";
import type { CliContext } from "./context.ts";

let dir: string;
const servers: ComputationsServer[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cocos-comp-"));
});
afterAll(async () => {
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { out: (l) => out.push(l), err: (l) => err.push(l), cwd: dir, env: { HOST: "127.0.0.1", PORT: "0" }, tty: false };
  const r = await runCli(["computations", "serve", ...args], ctx);
  if (r.server) servers.push(r.server);
  return { ...r, out, err };
}

type Msg = { runReqChunks?: { data: Uint8Array; id: string; is_last: boolean } };
/** Plays the manager: opens Process, collects the chunks until is_last, decodes the request. */
async function fetchRunReq(port: number, send: object[] = []): Promise<{ req: RunReqObject; chunks: Msg[]; close(): void }> {
  const client = new managerProto.ManagerService(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Process(): grpc.ClientDuplexStream<object, Msg>;
  };
  const call = client.Process();
  for (const m of send) call.write(m);
  const chunks: Msg[] = [];
  await new Promise<void>((resolve, reject) => {
    call.on("data", (m: Msg) => {
      chunks.push(m);
      if (m.runReqChunks?.is_last) resolve();
    });
    call.on("error", reject);
  });
  const bytes = Buffer.concat(chunks.map((c) => c.runReqChunks!.data));
  const close = () => {
    call.cancel();
    client.close();
  };
  return { req: decodeMessage<RunReqObject>(ComputationRunReqType, bytes), chunks, close };
}

describe("computations serve", () => {
  test("ALGO PUBKEY ATTESTED_TLS DATASET: the original's request, chunked, with hashes, filenames and keys", async () => {
    writeFileSync(join(dir, "algo.wasm"), "wasm bytes");
    writeFileSync(join(dir, "Iris.csv"), "a,b\n");
    const kp = generateKeyPair("ecdsa");
    writeFileSync(join(dir, "public.pem"), kp.publicPem);
    const r = await serve(["algo.wasm", "public.pem", "t", "Iris.csv"]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toContain("computations_test_server service gRPC server listening at 127.0.0.1:");
    const { req, chunks, close } = await fetchRunReq(r.server!.port, [
      { agent_event: { event_type: "VmProvision", timestamp: timestampFromDate(), computation_id: "1", details: Buffer.from(""), originator: "manager", status: "Starting" } },
      { run_res: { agent_port: "6100", computation_id: "1" } },
    ]);
    expect(chunks.at(-1)!.runReqChunks).toMatchObject({ id: "1", is_last: true });
    expect(chunks.at(-1)!.runReqChunks!.data.length).toBe(0);
    expect(chunks.slice(0, -1).every((c) => c.runReqChunks!.is_last === false && c.runReqChunks!.id === "1")).toBe(true);
    const key = Buffer.from(publicKeyDer(loadPublicKey(kp.publicPem)));
    expect(req.id).toBe("1");
    expect(req.name).toBe("sample computation");
    expect(req.description).toBe("sample descrption");
    expect(toHex(req.algorithm!.hash!)).toBe(toHex(sha3_256("wasm bytes")));
    expect(Buffer.from(req.algorithm!.userKey!)).toEqual(key);
    expect(req.datasets!.map((d) => [toHex(d.hash!), d.filename])).toEqual([[toHex(sha3_256("a,b\n")), "Iris.csv"]]);
    expect(Buffer.from(req.result_consumers![0]!.userKey!)).toEqual(key);
    expect(req.agent_config).toMatchObject({ port: "7002", log_level: "debug", attested_tls: true });
    // A manifest we build refuses the replayable Cocos v1 signatures unless asked otherwise.
    expect(req.signatures).toBe("v2-only");
    expect(r.out[1]).toContain("signatures v2-only");
    const printed = async (text: string) => {
      for (let i = 0; i < 200 && !r.out.some((l) => l.includes(text)); i++) await Bun.sleep(25);
      return r.out.some((l) => l.includes(text));
    };
    expect(await printed("event  VmProvision/Starting  computation=1 from=manager")).toBe(true);
    expect(await printed("run    computation=1 agent_port=6100")).toBe(true);
    close();
  });

  test("--manifest FILE with three parties' keys is sent as written (same manifest hash)", async () => {
    const key = () => publicKeyDer(loadPublicKey(generateKeyPair("ed25519").publicPem));
    const m: Manifest = {
      id: "iris-42",
      name: "iris",
      description: "three parties",
      datasets: [{ hash: new Uint8Array(32).fill(9), user_key: key(), filename: "Iris.csv" }],
      algorithm: { hash: new Uint8Array(32).fill(8), user_key: key() },
      result_consumers: [{ user_key: key() }],
      agent_config: { port: "7002", log_level: "info" },
    };
    writeFileSync(join(dir, "m.json"), manifestToJSON(m));
    const r = await serve(["--manifest", "m.json"]);
    expect(r.code).toBe(0);
    const { req, close } = await fetchRunReq(r.server!.port);
    close();
    expect(toHex(manifestHash(manifestFromRunReq(req)))).toBe(toHex(manifestHash(m)));
  });

  test("--cocos-v1-signatures: the built manifest also accepts v1 (no signatures field, as Cocos sends it)", async () => {
    const r = await serve(["algo.wasm", "public.pem", "false", "--cocos-v1-signatures", "--id", "v1-ok"]);
    expect(r.code).toBe(0);
    expect(r.out[1]).toContain("signatures v1 or v2");
    const { req, close } = await fetchRunReq(r.server!.port);
    close();
    expect(req.id).toBe("v1-ok");
    expect(req.signatures || undefined).toBeUndefined();
    const withFile = await serve(["--manifest", "m.json", "--cocos-v1-signatures"]);
    expect(withFile.code).toBe(1);
    expect(withFile.err.join("\n")).toContain(`with --manifest, set its "signatures" field`);
  });

  test("--data-key and --consumer-key: each role gets its party's key, not the algorithm provider's", async () => {
    const keys = ["algo", "data1", "data2", "consumer"].map((n) => {
      const kp = generateKeyPair("ed25519");
      writeFileSync(join(dir, `${n}.pem`), kp.publicPem);
      return Buffer.from(publicKeyDer(loadPublicKey(kp.publicPem))).toString("hex");
    });
    writeFileSync(join(dir, "b.csv"), "c\n");
    const der = (b: Uint8Array | undefined) => Buffer.from(b!).toString("hex");
    const r = await serve(["algo.wasm", "algo.pem", "true", "Iris.csv", "b.csv", "--data-key", "data1.pem", "--data-key", "data2.pem", "--consumer-key", "consumer.pem", "--consumer-key", "algo.pem", "--id", "parties"]);
    expect(r.code).toBe(0);
    const { req, close } = await fetchRunReq(r.server!.port);
    close();
    expect(der(req.algorithm!.userKey)).toBe(keys[0]);
    expect(req.datasets!.map((d) => der(d.userKey))).toEqual([keys[1], keys[2]]);
    expect(req.result_consumers!.map((c) => der(c.userKey))).toEqual([keys[3], keys[0]]);
    // One --data-key covers every dataset.
    const one = await serve(["algo.wasm", "algo.pem", "true", "Iris.csv", "b.csv", "--data-key", "data1.pem", "--id", "one"]);
    const got = await fetchRunReq(one.server!.port);
    got.close();
    expect(got.req.datasets!.map((d) => der(d.userKey))).toEqual([keys[1], keys[1]]);
    const wrong = await serve(["algo.wasm", "algo.pem", "true", "Iris.csv", "--data-key", "data1.pem", "--data-key", "data2.pem"]);
    expect(wrong.code).toBe(1);
    expect(wrong.err.join("\n")).toContain("--data-key: expected one key for every dataset or one per dataset (1), got 2");
    const withFile = await serve(["--manifest", "m.json", "--consumer-key", "consumer.pem"]);
    expect(withFile.err.join("\n")).toContain("with --manifest, the file names every key");
  });

  test("usage and input errors", async () => {
    const a = await serve(["algo.wasm", "public.pem"]);
    expect(a.code).toBe(1);
    expect(a.err.join("\n")).toContain("usage: cocos-cli computations serve <algo-path> <public-key-path> <attested-tls-bool>");
    const b = await serve(["algo.wasm", "public.pem", "maybe"]);
    expect(b.err.join("\n")).toContain('expected a boolean (true/false/1/0/t/f), got "maybe"');
    const c = await serve(["algo.wasm", "public.pem", "false", "missing.csv"]);
    expect(c.err.join("\n")).toContain("dataset");
    expect(c.err.join("\n")).toContain("does not exist");
    const d = await serve(["--manifest", "m.json", "algo.wasm"]);
    expect(d.code).toBe(1);
  });

  test("runReqChunkMessages: fixed-size chunks, then one empty is_last chunk", () => {
    const key = publicKeyDer(loadPublicKey(generateKeyPair("ed25519").publicPem));
    const req = { id: "5", name: "x".repeat(100), algorithm: { hash: Buffer.alloc(32), userKey: Buffer.from(key) } };
    const msgs = runReqChunkMessages(req, 16);
    const last = msgs.at(-1) as { runReqChunks: { data: Uint8Array; is_last: boolean } };
    expect(last.runReqChunks.is_last).toBe(true);
    expect(last.runReqChunks.data.length).toBe(0);
    const body = msgs.slice(0, -1) as { runReqChunks: { data: Uint8Array; is_last: boolean } }[];
    expect(body.slice(0, -1).every((m) => m.runReqChunks.data.length === 16)).toBe(true);
    const decoded = decodeMessage<RunReqObject>(ComputationRunReqType, Buffer.concat(body.map((m) => m.runReqChunks.data)));
    expect(decoded.name).toBe("x".repeat(100));
  });

  test("formatClientMessage: one readable line per message kind", () => {
    expect(formatClientMessage({ agent_log: { message: "hello\n", computation_id: "1", level: "INFO" } })).toMatch(/log +INFO +hello {2}computation=1$/);
    expect(formatClientMessage({ agent_log: { message: "a\nb", computation_id: "", level: "WARN" } })).toMatch(/WARN +a ⏎ b$/);
    expect(formatClientMessage({ stopComputationRes: { computation_id: "1", message: "" } })).toContain("stop   computation=1 ok");
    expect(formatClientMessage({ run_res: { agent_port: "", computation_id: "2", error: "bad key" } })).toContain("agent_port=-  error=bad key");
  });
});
