// A control plane that is not ours: a Python grpcio server of manager.ManagerService/Process whose
// ComputationRunReq is built from Cocos v0.10.2's cvms.proto field numbers (a descriptor written out
// in Python, not our .proto). It sends one run request whole (v0.10) and one as RunReqChunks (v0.4);
// our manager boots both, and the agent (the manager's stand-in guest, which records what the host
// channel delivered) gets algo_type, algo_args, the per-resource kbs and source in its manifest.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startManager } from "../manager/app.ts";
import { generateKeyPair, loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { parseManifest } from "../protocol/manifest.ts";

// Debian's interpreter with python3-grpcio and python3-protobuf (./cocos installs them).
const PYTHON = "/usr/bin/python3";
const hasGrpcio = Bun.spawnSync([PYTHON, "-c", "import grpc, google.protobuf.message_factory"]).exitCode === 0;
const FAKE = `${process.execPath} ${join(import.meta.dir, "..", "manager", "testdata", "fake-agent.ts")}`;

const SERVER = `
import base64, sys, threading
from concurrent import futures
import grpc
from google.protobuf import descriptor_pb2, message_factory

F = descriptor_pb2.FieldDescriptorProto
O, R = F.LABEL_OPTIONAL, F.LABEL_REPEATED
S, B, BOOL, M = F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_BOOL, F.TYPE_MESSAGE
fdp = descriptor_pb2.FileDescriptorProto(name="cvms.proto", package="cvms", syntax="proto3")
def message(name, fields):
    m = fdp.message_type.add(name=name)
    for fname, num, typ, label, tname in fields:
        f = m.field.add(name=fname, number=num, type=typ, label=label)
        if tname:
            f.type_name = ".cvms." + tname
# Cocos v0.10.2 agent/cvms/cvms.proto
message("KBSConfig", [("url", 1, S, O, None), ("enabled", 2, BOOL, O, None)])
message("Source", [("type", 1, S, O, None), ("url", 2, S, O, None), ("kbs_resource_path", 3, S, O, None), ("encrypted", 4, BOOL, O, None)])
message("Dataset", [("hash", 1, B, O, None), ("userKey", 2, B, O, None), ("filename", 3, S, O, None), ("source", 4, M, O, "Source"), ("decompress", 5, BOOL, O, None), ("kbs", 6, M, O, "KBSConfig")])
message("Algorithm", [("hash", 1, B, O, None), ("userKey", 2, B, O, None), ("source", 3, M, O, "Source"), ("algo_type", 4, S, O, None), ("algo_args", 5, S, R, None), ("kbs", 6, M, O, "KBSConfig")])
message("ResultConsumer", [("userKey", 1, B, O, None)])
message("AgentConfig", [("port", 1, S, O, None)])
message("ComputationRunReq", [("id", 1, S, O, None), ("name", 2, S, O, None), ("description", 3, S, O, None), ("datasets", 4, M, R, "Dataset"), ("algorithm", 5, M, O, "Algorithm"), ("result_consumers", 6, M, R, "ResultConsumer"), ("agent_config", 7, M, O, "AgentConfig")])
message("RunReqChunks", [("data", 1, B, O, None), ("id", 2, S, O, None), ("is_last", 3, BOOL, O, None)])
message("ServerStreamMessage", [("runReqChunks", 1, M, O, "RunReqChunks"), ("runReq", 2, M, O, "ComputationRunReq")])
T = message_factory.GetMessages([fdp])
Req, Ssm, Chunks = T["cvms.ComputationRunReq"], T["cvms.ServerStreamMessage"], T["cvms.RunReqChunks"]

key = base64.b64decode(sys.argv[1])
def run_req(cid):
    r = Req(id=cid, name="python control plane")
    d = r.datasets.add(hash=bytes([1]) * 32, userKey=key, filename="iris.csv", decompress=True)
    d.source.url = "https://data.example/iris.enc"
    d.source.kbs_resource_path = "default/key/iris"
    d.source.encrypted = True
    d.kbs.url = "http://127.0.0.1:9/kbs"
    d.kbs.enabled = True
    a = r.algorithm
    a.hash, a.userKey, a.algo_type = bytes([2]) * 32, key, "wasm"
    a.algo_args.extend(["--epochs", "10, with a comma"])
    a.source.url = "https://algo.example/train.wasm"
    a.kbs.url = "http://127.0.0.1:9/kbs-algo"
    a.kbs.enabled = False
    r.result_consumers.add(userKey=key)
    r.agent_config.port = "7002"
    return r

def process(requests, context):
    yield Ssm(runReq=run_req("py10whole")).SerializeToString()
    data = run_req("py10chunked").SerializeToString()
    for i in range(0, len(data), 64):
        yield Ssm(runReqChunks=Chunks(data=data[i:i + 64], id="py10chunked")).SerializeToString()
    yield Ssm(runReqChunks=Chunks(id="py10chunked", is_last=True)).SerializeToString()
    for _ in requests:  # the manager's answers; the stream stays open until it goes
        pass

server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("manager.ManagerService", {"Process": grpc.stream_stream_rpc_method_handler(process)}),))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
sys.stdin.read()  # until the test closes our stdin
server.stop(0)
`;

describe.skipIf(!hasGrpcio)("a Cocos v0.10-shaped ComputationRunReq from a Python grpcio control plane", () => {
  const dir = mkdtempSync(join(tmpdir(), "compat-runreq-"));
  const key = publicKeyDer(loadPublicKey(generateKeyPair("ed25519").publicPem));
  let py: ReturnType<typeof Bun.spawn>;
  let mgr: Awaited<ReturnType<typeof startManager>>;

  beforeAll(async () => {
    writeFileSync(join(dir, "server.py"), SERVER);
    py = Bun.spawn([PYTHON, join(dir, "server.py"), Buffer.from(key).toString("base64")], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    const reader = (py.stdout as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const port = Number(first.trim());
    expect(port).toBeGreaterThan(0);
    mgr = await startManager({
      PATH: process.env.PATH,
      MANAGER_GRPC_URL: `127.0.0.1:${port}`,
      MANAGER_BACKEND: "process",
      MANAGER_AGENT_BIN: FAKE,
      MANAGER_STATE_DIR: join(dir, "state"),
      MANAGER_HTTP_PORT: "off",
      MANAGER_LOG_LEVEL: process.env.TEST_DEBUG ? "debug" : "error",
      MANAGER_STOP_GRACE: "5s",
    });
  }, 30_000);

  afterAll(async () => {
    for (const v of mgr?.manager.list() ?? []) await mgr.manager.stop(v.computationId, true);
    await mgr?.shutdown();
    (py?.stdin as { end(): void } | undefined)?.end();
    await py?.exited;
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  /** The manifest the guest of `id` received over the host channel. */
  async function delivered(id: string) {
    for (let i = 0; i < 750; i++) {
      const vm = mgr.manager.find(id);
      const file = vm && join(vm.workDir, "agent", "received-manifest.json");
      if (file && existsSync(file)) return parseManifest(readFileSync(file, "utf8"));
      await Bun.sleep(20);
    }
    throw new Error(`no manifest delivered for ${id}`);
  }

  for (const id of ["py10whole", "py10chunked"]) {
    test(`${id === "py10whole" ? "whole (v0.10)" : "chunked (v0.4)"}: the agent's manifest has algo_type, algo_args, kbs, source and decompress`, async () => {
      const m = await delivered(id);
      expect(m.algorithm.algo_type).toBe("wasm");
      expect(m.algorithm.algo_args).toEqual(["--epochs", "10, with a comma"]);
      expect(m.algorithm.source).toEqual({ url: "https://algo.example/train.wasm" });
      expect(m.algorithm.kbs).toEqual({ url: "http://127.0.0.1:9/kbs-algo" });
      expect(m.datasets[0]).toMatchObject({
        filename: "iris.csv",
        decompress: true,
        source: { url: "https://data.example/iris.enc", kbs_resource_path: "default/key/iris", encrypted: true },
        kbs: { url: "http://127.0.0.1:9/kbs", enabled: true },
      });
    }, 30_000);
  }
});
