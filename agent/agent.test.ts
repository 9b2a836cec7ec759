import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { unzipSync, zipSync, strToU8 } from "fflate";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { download, ed, metadata, startTestAgent, uploadAlgo, uploadData, v1, v2, type TestAgent } from "./testkit.ts";

const hasClang = Bun.which("clang") !== null;
let wasm = new Uint8Array();
const buildDir = mkdtempSync(join(tmpdir(), "agent-wasm-"));
beforeAll(() => {
  if (!hasClang) return;
  const out = join(buildDir, "sum.wasm");
  const r = Bun.spawnSync(["clang", "--target=wasm32-wasi", "-O2", join(import.meta.dir, "testdata", "sum.c"), "-o", out]);
  if (r.exitCode !== 0) throw new Error(`clang failed: ${r.stderr.toString()}`);
  wasm = new Uint8Array(readFileSync(out));
});
afterAll(() => rmSync(buildDir, { recursive: true, force: true }));

const algoKey = ed();
const dataKey = ed();
const dataKey2 = ed();
const consumerKey = ed();
const csv = strToU8("a,b\n1,2\n3,4\n");

describe.skipIf(!hasClang)("agent happy path (wasm, two datasets, one zipped with decompress)", () => {
  let t: TestAgent;
  const zipped = zipSync({ "x.txt": strToU8("xyz"), "dir/y.bin": new Uint8Array([1, 2, 3]) });
  beforeAll(async () => {
    t = await startTestAgent({
      algorithm: wasm,
      algoKey,
      datasets: [
        { bytes: csv, filename: "data.csv", key: dataKey },
        { bytes: zipped, filename: "bundle.zip", key: dataKey2 },
      ],
      consumers: [consumerKey],
    });
  });
  afterAll(() => t?.close());

  test("upload, automatic run, result download, events", async () => {
    expect(t.agent.computation.state).toBe("ReceivingAlgorithm");
    const algoMd = metadata({ ...v2(algoKey, "algorithm-provider", "/agent.AgentService/Algo", t.manifest.id), algo_type: "wasm", algo_args: ["--exit", "0", "hello world"] });
    expect(await uploadAlgo(t, algoMd, wasm)).toEqual({ code: grpc.status.OK, details: "" });
    expect(t.agent.computation.state).toBe("ReceivingData");
    expect(await uploadData(t, metadata({ ...v1(dataKey, "data-provider"), decompress: "false" }), "data.csv", csv)).toMatchObject({ code: 0 });
    expect(await uploadData(t, metadata({ ...v2(dataKey2, "data-provider", "/agent.AgentService/Data", t.manifest.id), decompress: "true" }), "bundle.zip", zipped)).toMatchObject({ code: 0 });
    await t.waitForState("ConsumingResults");
    const r = await download(t, "Result", metadata(v2(consumerKey, "consumer", "/agent.AgentService/Result", t.manifest.id)));
    expect(r.code).toBe(grpc.status.OK);
    expect(r.fileSize).toBe(r.bytes.length);
    const files = unzipSync(new Uint8Array(r.bytes));
    const summary = new TextDecoder().decode(files["summary.txt"]!);
    expect(summary).toContain("data.csv 12 ");
    expect(summary).toContain("x.txt 3 363");
    expect(summary).toContain("args: --exit 0 hello world");
    expect(t.agent.computation.state).toBe("Complete");
    // A second download by a declared consumer still works (Cocos: any number of times).
    expect((await download(t, "Result", metadata(v1(consumerKey, "consumer")))).code).toBe(0);
    // Nothing of the inputs is left behind after the run.
    expect(existsSync(join(t.dir, "datasets"))).toBe(false);
    expect(readdirSync(join(t.dir, ".incoming"))).toEqual([]);
    for (let i = 0; i < 100 && !t.events.some((e) => e.type === "Complete"); i++) await Bun.sleep(20);
    const seq = t.events.map((e) => `${e.type}/${e.status}`);
    expect(seq).toEqual([
      "Idle/IdleState",
      "ReceivingManifest/InProgress",
      "ReceivingAlgorithm/InProgress",
      "ReceivingData/InProgress",
      "Running/Starting",
      "Running/InProgress",
      "AlgorithmRun/Warning",
      "Running/Completed",
      "ConsumingResults/Ready",
      "Complete/Completed",
    ]);
  });

  test("/health and /metrics", async () => {
    const base = `http://127.0.0.1:${t.agent.httpPort}`;
    const h = await (await fetch(`${base}/health`)).json();
    expect(h).toMatchObject({ status: "pass", state: "Complete", computation_id: t.manifest.id });
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toContain('cocos_agent_state{state="Complete"} 1');
    expect(m).toContain('cocos_agent_uploads_total{rpc="Data",result="ok"} 2');
    expect(m).toMatch(/cocos_agent_upload_bytes_total\{rpc="Algo"\} \d+/);
  });

  test("gRPC health service reports agent SERVING", async () => {
    const { healthProto } = await import("../protocol/proto.ts");
    const c = new healthProto.Health(`127.0.0.1:${t.agent.grpcPort}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Check: Function };
    const res = await new Promise<{ status: string }>((res, rej) => c.Check({ service: "agent" }, (e: Error | null, r: { status: string }) => (e ? rej(e) : res(r))));
    expect(res.status).toBe("SERVING");
    c.close();
  });
});
