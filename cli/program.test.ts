import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPublicKey } from "node:crypto";
import { AgentServiceDef, HealthServiceDef } from "../protocol/proto.ts";
import { hashPath, sha3_256, toHex } from "../protocol/hash.ts";
import { loadPrivateKey, loadPublicKey, pemDecode, publicKeyDer, generateKeyPair } from "../protocol/keys.ts";
import { manifestHash, manifestToJSON, parseManifest, type Manifest } from "../protocol/manifest.ts";
import { verifyRole, verifyRequest, NonceWindow } from "../protocol/signature.ts";
import { zipDirectory } from "../protocol/zip.ts";
import type { CliContext } from "./context.ts";
import { runCli } from "./program.ts";
import { parseByteSize } from "./agent-commands.ts";
import { isZip } from "./agent-client.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cocos-cli-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ctx(env: Record<string, string> = {}, cwd = dir) {
  const out: string[] = [];
  const err: string[] = [];
  const c: CliContext = { out: (l) => out.push(l), err: (l) => err.push(l), cwd, env, tty: false };
  return { c, out, err };
}

async function cli(argv: string[], env: Record<string, string> = {}, cwd = dir) {
  const x = ctx(env, cwd);
  const r = await runCli(argv, x.c);
  return { code: r.code, out: x.out.join("\n"), err: x.err.join("\n"), server: r.server };
}

describe("keys", () => {
  for (const [type, label] of [
    ["ed25519", "PRIVATE KEY"],
    ["ecdsa", "EC PRIVATE KEY"],
    ["rsa", "PRIVATE KEY"],
  ] as const) {
    test(`-k ${type} writes the original formats, readable by protocol/keys`, async () => {
      const d = mkdtempSync(join(dir, `k-${type}-`));
      const r = await cli(["keys", "-k", type], {}, d);
      expect(r.code).toBe(0);
      expect(r.out).toBe(`Successfully generated public/private key pair of type: ${type}`);
      const priv = readFileSync(join(d, "private.pem"), "utf8");
      const pub = readFileSync(join(d, "public.pem"), "utf8");
      expect(pemDecode(priv).label).toBe(label);
      expect(pemDecode(pub).label).toBe("PUBLIC KEY");
      const k = loadPrivateKey(priv);
      expect(Buffer.from(publicKeyDer(k))).toEqual(Buffer.from(publicKeyDer(loadPublicKey(pub))));
      if (type === "rsa") {
        // Cocos's mislabelled PKCS#1: the DER under "PRIVATE KEY" is an RSAPrivateKey, 4096-bit.
        expect(k.asymmetricKeyDetails?.modulusLength).toBe(4096);
        expect(() => createPublicKey({ key: pemDecode(priv).der, format: "der", type: "pkcs1" })).not.toThrow();
      }
    });
  }

  test("an unknown key type is refused with the choices", async () => {
    const r = await cli(["keys", "-k", "dsa"]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("rsa");
  });
});

describe("checksum", () => {
  test("file: SHA3-256 hex, -b base64", async () => {
    const f = join(dir, "data.csv");
    writeFileSync(f, "a,b\n1,2\n");
    const hex = toHex(sha3_256("a,b\n1,2\n"));
    expect((await cli(["checksum", f])).out).toBe(`Hash of file: ${hex}`);
    expect((await cli(["checksum", "-b", "data.csv"])).out).toBe(`Hash of file: ${Buffer.from(hex, "hex").toString("base64")}`);
  });

  test("directory: the hash of the deterministic zip that `data` uploads", async () => {
    const d = join(dir, "tree");
    mkdirSync(join(d, "sub"), { recursive: true });
    writeFileSync(join(d, "b.txt"), "B");
    writeFileSync(join(d, "sub", "a.txt"), "A");
    const r = await cli(["checksum", d]);
    expect(r.out).toBe(`Hash of file: ${toHex(sha3_256(await zipDirectory(d)))}`);
  });

  test("-m reproduces the manifest hash, whatever the file's formatting", async () => {
    const key = publicKeyDer(loadPublicKey(generateKeyPair("ed25519").publicPem));
    const m: Manifest = {
      id: "1",
      name: "sample computation",
      description: "sample <descrption> & more",
      datasets: [{ hash: new Uint8Array(32).fill(3), user_key: key, filename: "Iris.csv" }],
      algorithm: { hash: new Uint8Array(32).fill(4), user_key: key },
      result_consumers: [{ user_key: key }],
      agent_config: { port: "7002", log_level: "debug" },
    };
    const f = join(dir, "manifest.json");
    // Pretty-printed with different whitespace: the canonical re-encoding is what is hashed.
    writeFileSync(f, JSON.stringify(JSON.parse(manifestToJSON(m)), null, 4));
    const r = await cli(["checksum", "--manifest", f]);
    expect(r.out).toBe(`Hash of manifest file: ${toHex(manifestHash(m))}`);
    expect(toHex(manifestHash(parseManifest(readFileSync(f, "utf8"))))).toBe(toHex(manifestHash(m)));
    const b = await cli(["checksum", "-m", "-b", f]);
    expect(b.out).toBe(`Hash of manifest file: ${Buffer.from(manifestHash(m)).toString("base64")}`);
  });

  test("a missing path and an invalid manifest are clear errors with a non-zero exit", async () => {
    const a = await cli(["checksum", join(dir, "nope")]);
    expect(a.code).toBe(1);
    expect(a.err).toContain("does not exist");
    writeFileSync(join(dir, "bad.json"), '{"algorithm":{"hash":[1,2,3]}}');
    const b = await cli(["checksum", "-m", join(dir, "bad.json")]);
    expect(b.code).toBe(1);
    expect(b.err).toContain("algorithm.hash: expected 32 bytes");
  });
});

// A stand-in AgentService that records what the CLI sends.
interface Recorded {
  method: string;
  md: grpc.Metadata;
  msgs: Record<string, Uint8Array | string>[];
}
describe("agent commands against a gRPC AgentService", () => {
  let server: grpc.Server;
  let port: number;
  const calls: Recorded[] = [];
  let reject: grpc.status | null = null;
  // A zip (local file header magic) of 3 MiB + 5 bytes.
  const result = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251);
  result.set([0x50, 0x4b, 3, 4]);
  let keyDir: string;

  beforeAll(async () => {
    keyDir = mkdtempSync(join(dir, "party-"));
    await cli(["keys", "-k", "ecdsa"], {}, keyDir);
    server = new grpc.Server();
    const upload = (method: string) => (call: grpc.ServerReadableStream<Record<string, Uint8Array>, object>, cb: grpc.sendUnaryData<object>) => {
      const rec: Recorded = { method, md: call.metadata, msgs: [] };
      call.on("data", (m) => rec.msgs.push(m));
      call.on("end", () => {
        calls.push(rec);
        if (reject !== null) cb({ code: reject, details: "signature verification failed for role algorithm-provider" });
        else cb(null, {});
      });
    };
    server.addService(AgentServiceDef, {
      Algo: upload("Algo"),
      Data: upload("Data"),
      Result(call: grpc.ServerWritableStream<object, { file: Uint8Array }>) {
        calls.push({ method: "Result", md: call.metadata, msgs: [] });
        if (reject !== null) return call.emit("error", { code: reject, details: "computation results are not yet ready" });
        const md = new grpc.Metadata();
        md.set("file-size", String(result.length));
        call.sendMetadata(md);
        for (let i = 0; i < result.length; i += 1 << 20) call.write({ file: result.subarray(i, i + (1 << 20)) });
        call.end();
      },
      Attestation(call: grpc.ServerWritableStream<object, object>) {
        call.end();
      },
    });
    server.addService(HealthServiceDef, {
      Check: (_c: unknown, cb: grpc.sendUnaryData<object>) => cb(null, { status: "SERVING" }),
      Watch: (c: grpc.ServerWritableStream<object, object>) => c.end(),
    });
    port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  });
  afterAll(() => server.forceShutdown());

  const env = () => ({ AGENT_GRPC_URL: `127.0.0.1:${port}`, AGENT_GRPC_TIMEOUT: "5s", COCOS_COMPUTATION_ID: "42" });
  const pub = () => readFileSync(join(keyDir, "public.pem"), "utf8");
  /** A manifest naming this party's key for every role, accepting only v2 signatures. */
  const v2OnlyManifest = (id: string, path: string) => {
    const key = publicKeyDer(loadPublicKey(pub()));
    const m: Manifest = {
      id,
      name: "",
      description: "",
      datasets: [{ hash: new Uint8Array(32), user_key: key, filename: "Iris.csv" }],
      algorithm: { hash: new Uint8Array(32), user_key: key },
      result_consumers: [{ user_key: key }],
      agent_config: {},
      signatures: "v2-only",
    };
    writeFileSync(path, manifestToJSON(m));
  };

  test("algo: requirements first, then the algorithm in 1 MiB chunks; metadata type/args/runtime; v1 role signature when asked for", async () => {
    calls.length = 0;
    const algo = join(dir, "algo.bin");
    const bytes = new Uint8Array(2.5 * 1024 * 1024).map((_, i) => (i * 7) % 256);
    writeFileSync(algo, bytes);
    writeFileSync(join(dir, "req.txt"), "numpy\n");
    const r = await cli(["algo", algo, join(keyDir, "private.pem"), "-a", "wasm", "--args", "first arg", "--args", "{\"x\":1}", "-r", "req.txt", "--signature", "v1"], env());
    expect(r.code).toBe(0);
    expect(r.out).toContain("Successfully uploaded algorithm!");
    expect(r.err).toContain("v1 signatures (Cocos compatibility) are replayable");
    const c = calls[0]!;
    expect(c.msgs[0]!.requirements).toEqual(Buffer.from("numpy\n"));
    const algoMsgs = c.msgs.filter((m) => (m.algorithm as Uint8Array)?.length);
    expect(algoMsgs.map((m) => (m.algorithm as Uint8Array).length)).toEqual([1 << 20, 1 << 20, bytes.length - 2 * (1 << 20)]);
    expect(Buffer.concat(algoMsgs.map((m) => m.algorithm as Uint8Array))).toEqual(Buffer.from(bytes));
    expect(c.md.get("algo_type")).toEqual(["wasm"]);
    // Repeated text metadata reaches a node:http2 server joined with ", "; the -bin twin keeps values apart.
    expect(c.md.get("algo_args").join(", ")).toBe('first arg, {"x":1}');
    expect(c.md.get("algo_args-bin").map(String)).toEqual(["first arg", '{"x":1}']);
    expect(c.md.get("python_runtime")).toEqual(["python3"]);
    expect(c.md.get("user-id")).toEqual(["algorithm-provider"]);
    expect(verifyRole(loadPublicKey(pub()), "algorithm-provider", String(c.md.get("signature")[0]))).toBe(true);
    expect(verifyRole(loadPublicKey(pub()), "data-provider", String(c.md.get("signature")[0]))).toBe(false);
  });

  test("data: a directory travels as its deterministic zip with decompress=true; the hash matches checksum", async () => {
    calls.length = 0;
    const d = join(dir, "model");
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, "model.json"), '{"w":[1,2]}');
    const r = await cli(["data", d, join(keyDir, "private.pem")], env());
    expect(r.code).toBe(0);
    const c = calls[0]!;
    expect(c.md.get("decompress")).toEqual(["true"]);
    expect(new Set(c.msgs.map((m) => m.filename))).toEqual(new Set(["model"]));
    const sent = Buffer.concat(c.msgs.map((m) => m.dataset as Uint8Array));
    expect(toHex(sha3_256(sent))).toBe(toHex(await hashPath(d)));
  });

  test("data: a file keeps decompress=false unless -d", async () => {
    calls.length = 0;
    const f = join(dir, "Iris.csv");
    writeFileSync(f, "1,2,3\n");
    expect((await cli(["data", f, join(keyDir, "private.pem")], env())).code).toBe(0);
    expect(calls[0]!.md.get("decompress")).toEqual(["false"]);
    expect(calls[0]!.msgs[0]!.filename).toBe("Iris.csv");
    expect((await cli(["data", "-d", f, join(keyDir, "private.pem")], env())).code).toBe(0);
    expect(calls[1]!.md.get("decompress")).toEqual(["true"]);
  });

  test("v2 by default: binds role, method, computation id and (no TLS) the empty audience; verifiable, not replayable", async () => {
    calls.length = 0;
    const f = join(dir, "Iris.csv");
    const noId = await cli(["data", f, join(keyDir, "private.pem")], { ...env(), COCOS_COMPUTATION_ID: "" });
    expect(noId.code).toBe(1);
    expect(noId.err).toContain("v2 signatures (the default) bind the computation id, and it is unknown: pass --manifest FILE");
    const ok = await cli(["data", f, join(keyDir, "private.pem")], env());
    expect(ok.code).toBe(0);
    expect(ok.err).toBe("");
    const md = calls[0]!.md;
    const nonces = new NonceWindow();
    const opts = { role: "data-provider" as const, method: "/agent.AgentService/Data", computationId: "42", nonces };
    expect(verifyRequest(md, [loadPublicKey(pub())], opts)).toMatchObject({ ok: true, version: 2 });
    expect(verifyRequest(md, [loadPublicKey(pub())], opts)).toMatchObject({ ok: false }); // replay
    expect(verifyRequest(md, [loadPublicKey(pub())], { ...opts, computationId: "43", nonces: new NonceWindow() })).toMatchObject({ ok: false });
    // An agent with a TLS key is another audience: the signature made for a plaintext agent fails there.
    expect(verifyRequest(md, [loadPublicKey(pub())], { ...opts, audience: "ab".repeat(32), nonces: new NonceWindow() })).toMatchObject({ ok: false });
  });

  test("COCOS_SIGNATURE=v1 is honoured (with the warning), refused when the manifest is v2-only; ids must agree", async () => {
    const f = join(dir, "Iris.csv");
    const v1 = await cli(["data", f, join(keyDir, "private.pem")], { ...env(), COCOS_SIGNATURE: "v1" });
    expect(v1.code).toBe(0);
    expect(v1.err).toContain("replayable");
    v2OnlyManifest("m-only2", join(dir, "only2.json"));
    const refused = await cli(["data", "--manifest", join(dir, "only2.json"), "--signature", "v1", f, join(keyDir, "private.pem")], env());
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`accepts only v2 signatures`);
    const differ = await cli(["data", "--manifest", join(dir, "only2.json"), "--computation-id", "other", f, join(keyDir, "private.pem")], env());
    expect(differ.code).toBe(1);
    expect(differ.err).toContain(`differs from the manifest's "m-only2"`);
  });

  test("--manifest asking for v2 switches to v2 signatures bound to the manifest's id", async () => {
    calls.length = 0;
    v2OnlyManifest("m-77", join(dir, "v2.json"));
    const r = await cli(["data", "--manifest", join(dir, "v2.json"), join(dir, "Iris.csv"), join(keyDir, "private.pem")], { ...env(), COCOS_COMPUTATION_ID: "" });
    expect(r.code).toBe(0);
    const opts = { role: "data-provider" as const, method: "/agent.AgentService/Data", computationId: "m-77", nonces: new NonceWindow(), requireV2: true };
    expect(verifyRequest(calls[0]!.md, [loadPublicKey(pub())], opts)).toMatchObject({ ok: true, version: 2 });
  });

  test("result: streamed into results.zip with the file-size header", async () => {
    reject = null;
    const out = mkdtempSync(join(dir, "res-"));
    const r = await cli(["result", join(keyDir, "private.pem")], env(), out);
    expect(r.code).toBe(0);
    expect(r.out).toContain("saved successfully as results.zip");
    expect(new Uint8Array(readFileSync(join(out, "results.zip")))).toEqual(result);
    expect(calls.at(-1)!.md.get("user-id")).toEqual(["consumer"]);
  });

  test("gRPC failures become clear text and a non-zero exit; nothing partial is left", async () => {
    reject = grpc.status.UNAUTHENTICATED;
    const a = await cli(["algo", join(dir, "algo.bin"), join(keyDir, "private.pem")], env());
    expect(a.code).toBe(1);
    expect(a.err).toContain("the agent did not accept your signature");
    expect(a.err).toContain("signature verification failed");
    reject = grpc.status.FAILED_PRECONDITION;
    const out = mkdtempSync(join(dir, "res-"));
    const b = await cli(["result", join(keyDir, "private.pem"), "out.zip"], env(), out);
    expect(b.code).toBe(1);
    expect(b.err).toContain("not ready for this step");
    expect(readdirSync(out)).toEqual([]);
    reject = null;
  });

  test("no agent at the address: a connect error naming the address", async () => {
    const r = await cli(["data", join(dir, "Iris.csv"), join(keyDir, "private.pem")], { AGENT_GRPC_URL: "127.0.0.1:1", AGENT_GRPC_TIMEOUT: "300ms", COCOS_COMPUTATION_ID: "42" });
    expect(r.code).toBe(1);
    expect(r.err).toContain("could not connect to the agent at 127.0.0.1:1");
  });

  test("argument errors: bad algorithm type, missing file, unreadable key", async () => {
    expect((await cli(["algo", "x", "y", "-a", "java"], env())).code).not.toBe(0);
    const m = await cli(["algo", join(dir, "missing"), join(keyDir, "private.pem")], env());
    expect(m.err).toContain("does not exist");
    writeFileSync(join(dir, "notakey.pem"), "hello");
    const k = await cli(["data", join(dir, "Iris.csv"), join(dir, "notakey.pem")], env());
    expect(k.code).toBe(1);
    expect(k.err).toContain("is not a usable private key");
    const size = await cli(["result", join(keyDir, "private.pem"), "--max-size", "12 potatoes"], env());
    expect(size.code).toBe(1);
    expect(size.err).toContain(`--max-size: expected a positive size such as 1048576, 500MB or 2GiB, got "12 potatoes"`);
  });

  test("parseByteSize and isZip", () => {
    expect(parseByteSize("1GiB", "x")).toBe(1024 ** 3);
    expect(parseByteSize("500MB", "x")).toBe(500e6);
    expect(parseByteSize("1048576", "x")).toBe(1048576);
    expect(() => parseByteSize("0", "x")).toThrow("positive size");
    expect(isZip(new Uint8Array([0x50, 0x4b, 3, 4]))).toBe(true);
    expect(isZip(new Uint8Array([0x50, 0x4b, 5, 6, 0]))).toBe(true);
    expect(isZip(new Uint8Array([0x50, 0x4b, 7, 8]))).toBe(false);
    expect(isZip(new Uint8Array([0x50, 0x4b]))).toBe(false);
  });
});
