// A client that is not ours: Python grpcio (C core) sends `algo_args` the way Cocos's Go CLI does,
// one plain text metadata entry per argument, with a v1 signature. Each argument reaches the algorithm
// whole, the blog's JSON (which contains ", ") included.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { unzipSync } from "fflate";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { download, ed, metadata, startTestAgent, v1, type TestAgent } from "../agent/testkit.ts";
import { signRole } from "../protocol/signature.ts";

const hasClang = Bun.which("clang") !== null;
// Debian's interpreter with python3-grpcio (./cocos installs it); a pyenv python3 on PATH lacks it.
const PYTHON = "/usr/bin/python3";
const hasGrpcio = Bun.spawnSync([PYTHON, "-c", "import grpc"]).exitCode === 0;
const BLOG_ARG = '{"sepal_length": 7.0, "sepal_width": 3.2, "petal_length": 4.7, "petal_width": 1.4}';

// AlgoRequest{algorithm = 1} hand-encoded; metadata as a list, so repeated keys stay repeated.
const CLIENT = `
import json, os, sys, grpc
port, algo_path, signature = sys.argv[1:4]
args = sys.argv[4:]
data = open(algo_path, "rb").read()
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
request = b"\\x0a" + varint(len(data)) + data
channel = grpc.insecure_channel("127.0.0.1:" + port)
algo = channel.stream_unary("/agent.AgentService/Algo", request_serializer=lambda b: b, response_deserializer=lambda b: b)
md = [("user-id", "algorithm-provider"), ("signature", signature), ("algo_type", "wasm")] + [("algo_args", a) for a in args] + [tuple(kv) for kv in json.loads(os.environ.get("EXTRA_MD", "[]"))]
try:
    algo(iter([request]), metadata=md, timeout=30)
    print("OK")
except grpc.RpcError as e:
    print("ERROR", e.code(), e.details())
`;

describe.skipIf(!hasClang || !hasGrpcio)("algo_args as repeated plain text metadata from Python grpcio", () => {
  const dir = mkdtempSync(join(tmpdir(), "compat-args-"));
  const algoKey = ed();
  const consumerKey = ed();
  let wasm: Uint8Array;
  let t: TestAgent;
  beforeAll(async () => {
    const out = join(dir, "sum.wasm");
    const r = Bun.spawnSync(["clang", "--target=wasm32-wasi", "-O2", join(import.meta.dir, "..", "agent", "testdata", "sum.c"), "-o", out]);
    if (r.exitCode !== 0) throw new Error(`clang failed: ${r.stderr.toString()}`);
    wasm = new Uint8Array(readFileSync(out));
    writeFileSync(join(dir, "client.py"), CLIENT);
    t = await startTestAgent({ algorithm: wasm, algoKey, datasets: [], consumers: [consumerKey] });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The Python client uploading sum.wasm with a v1 signature (asynchronous: the agent answers from this process). */
  async function python(args: string[], extraMetadata: [string, string][] = []) {
    const client = Bun.spawn([PYTHON, join(dir, "client.py"), String(t.agent.grpcPort), join(dir, "sum.wasm"), signRole(algoKey, "algorithm-provider"), ...args], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, EXTRA_MD: JSON.stringify(extraMetadata) },
    });
    const [stdout, stderr] = await Promise.all([new Response(client.stdout).text(), new Response(client.stderr).text(), client.exited]);
    return { stdout, stderr };
  }

  test("the blog's JSON argument and the next one arrive intact and apart", async () => {
    const { stdout, stderr } = await python([BLOG_ARG, "second, arg"]);
    expect(stderr).toBe("");
    expect(stdout.trim()).toBe("OK");
    await t.waitForState("ConsumingResults");
    const r = await download(t, "Result", metadata(v1(consumerKey, "consumer")));
    expect(r.code).toBe(grpc.status.OK);
    const summary = new TextDecoder().decode(unzipSync(new Uint8Array(r.bytes))["summary.txt"]!);
    // Joined, the line would read `args: {…}, second, arg`; split at ", ", the commas would be gone.
    expect(summary).toBe(`args: ${BLOG_ARG} second, arg\n`);
  });

  test("a repeated single-valued signature header is refused, not resolved to one of its copies", async () => {
    const { stdout } = await python([BLOG_ARG], [["signature-version", "1"], ["signature-version", "2"]]);
    expect(stdout).toContain("ERROR StatusCode.UNAUTHENTICATED");
    expect(stdout).toContain("unknown signature-version");
  });
});
