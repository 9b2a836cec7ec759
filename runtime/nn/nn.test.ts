// wasi-nn through the run Worker: a preview-1 C guest (testdata/nn-probe.c) misusing the API gets a
// wasi-nn error code and the run's log a message; the run, and the agent, carry on.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clangUnavailable } from "../testdata/build.ts";
import type { RunLimits, RunSpec } from "../types.ts";
import { runWasmSpec } from "../wasm-runner.ts";
import { heavyModel, irisShapedModel } from "./testdata/onnx-model.ts";

setDefaultTimeout(60_000);
const noClang = clangUnavailable();
let root: string;
let probe: string;
const model = irisShapedModel();
const sha3 = (b: Uint8Array) => new Bun.CryptoHasher("sha3-256").update(b).digest("hex");

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "cocos-nn-test-"));
  if (noClang) return;
  probe = join(root, "nn-probe.wasm");
  const p = Bun.spawnSync(["clang", "--target=wasm32-wasi", "-O2", join(import.meta.dir, "testdata", "nn-probe.c"), "-o", probe]);
  if (p.exitCode !== 0) throw new Error(`clang failed for nn-probe.c: ${p.stderr.toString()}`);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let seq = 0;
async function probeRun(
  args: string[],
  opts: { files?: Record<string, Uint8Array>; limits?: Partial<RunLimits>; listed?: Record<string, string>; signal?: AbortSignal } = {},
) {
  const dir = join(root, `run-${++seq}`);
  const datasetsDir = join(dir, "datasets");
  const resultsDir = join(dir, "results");
  mkdirSync(datasetsDir, { recursive: true });
  mkdirSync(resultsDir, { recursive: true });
  const files = opts.files ?? { "model.onnx": model };
  for (const [n, b] of Object.entries(files)) writeFileSync(join(datasetsDir, n), b);
  const out: string[] = [];
  const err: string[] = [];
  const spec: RunSpec = {
    algoType: "wasm",
    algorithmPath: probe,
    args,
    datasetsDir,
    resultsDir,
    workDir: dir,
    datasets: Object.entries(files).map(([name, b]) => ({ name, hash: opts.listed?.[name] ?? sha3(b) })),
    limits: { timeoutMs: 30_000, ...opts.limits },
    onLog: (s, line) => (s === "stdout" ? out : err).push(line),
    signal: opts.signal,
  };
  const outcome = await runWasmSpec(spec);
  return { outcome, out, err };
}

describe.skipIf(!!noClang)("wasi-nn in the run Worker (preview-1 guest)", () => {
  // Each bad input: the call returns this errno, the log says why, the guest exits normally.
  const cases: [string, string[], string, RegExp][] = [
    ["a tensor of the wrong shape", ["shape"], "set_input=invalid_argument", /set_input: invalid-argument: input input expects shape \[N, 4\], got \[1, 5\]/],
    ["a tensor of the wrong type", ["type"], "set_input=invalid_argument", /expects f32 elements, got i32/],
    ["tensor data shorter than its dimensions", ["length"], "set_input=invalid_argument", /tensor data is 12 bytes; dimensions \[1, 4\] of f32 need 16/],
    ["an input index that does not exist", ["input-index"], "set_input=invalid_argument", /input index 3 does not exist/],
    ["an output index that does not exist", ["output-index"], "get_output=invalid_argument", /output index 7 does not exist: the model's outputs are 0: probabilities/],
    ["an output buffer too small", ["small-buffer"], "get_output=too_large", /output 0 is 12 bytes; the guest's buffer holds 4/],
    ["compute before set_input", ["compute-first"], "compute=invalid_argument", /compute before set_input: input\(s\) 0: input not set/],
    ["get_output before compute", ["output-first"], "get_output=invalid_argument", /get_output before compute/],
    ["a context handle it never got", ["bad-handle"], "compute=invalid_argument", /execution context handle \d+ does not exist/],
    ["contexts created in a loop", ["contexts"], "init=too_large", /limit of 64 execution contexts per run reached/],
    ["an encoding other than onnx", ["encoding"], "load=invalid_encoding", /graph encoding openvino is not supported/],
    ["a gpu target", ["gpu"], "load=unsupported_operation", /execution target gpu is not available/],
    ["a path outside the datasets", ["load", "../../etc/passwd"], "load=not_found", /is not a dataset/],
  ];
  for (const [what, args, errno, log] of cases) {
    test(`${what}: ${errno}`, async () => {
      const r = await probeRun(args);
      expect(r.outcome.kind === "exit" && r.outcome.code).toBe(0);
      expect(r.out).toContain(errno);
      expect(r.err.some((l) => log.test(l))).toBe(true);
    });
  }

  test("a model that is not ONNX, and a truncated one: invalid_encoding", async () => {
    const csv = new TextEncoder().encode("Id,SepalLengthCm,SepalWidthCm\n1,5.1,3.5\n");
    const files = { "Iris.csv": csv, "trunc.onnx": model.subarray(0, model.length - 40) };
    for (const name of Object.keys(files)) {
      const r = await probeRun(["load", name], { files });
      expect(r.out).toContain("load=invalid_encoding");
      expect(r.err.join("\n")).toMatch(/load_by_name: invalid-encoding: not a loadable ONNX model .*protobuf parsing failed/);
    }
  });

  test("a model larger than the run's limit: too_large, read no further than its size", async () => {
    const big = irisShapedModel(3 * 1024 * 1024);
    const r = await probeRun(["load", "big.onnx"], { files: { "big.onnx": big }, limits: { memoryBytes: 2 * 1024 * 1024 } });
    expect(r.out).toContain("load=too_large");
    expect(r.err.join("\n")).toContain(`model "big.onnx" is ${big.length} bytes; the limit of this run is ${2 * 1024 * 1024}`);
  });

  // adversary: the host replaces a model after the agent verified its upload.
  test("a model that does not match the manifest's hash is refused", async () => {
    const r = await probeRun(["load"], { listed: { "model.onnx": "00".repeat(32) } });
    expect(r.out).toContain("load=invalid_argument");
    expect(r.err.join("\n")).toMatch(/security: model "model.onnx" does not match the manifest: expected SHA3-256 0{64}, got [0-9a-f]{64}/);
  });

  // adversary: the algorithm keeps the host inside ONNX Runtime (computes of ~10 ms back to back),
  // so the stop lands mid-inference; terminating the Worker there would abort the whole process.
  const spinning = { "spin.onnx": heavyModel(256, 6), "model.onnx": model };
  test("inference counts against the run's timeout: a guest computing forever is stopped", async () => {
    const r = await probeRun(["spin1", "spin.onnx"], { files: spinning, limits: { timeoutMs: 1000 } });
    expect(r.outcome.kind).toBe("limit");
    expect(r.outcome.kind === "limit" && r.outcome.limit).toBe("timeout");
  });

  test("a run whose one compute outlasts the timeout ends at the timeout; the next run is unaffected", async () => {
    const files = { "heavy.onnx": heavyModel(1024, 24), "model.onnx": model };
    const r = await probeRun(["once", "heavy.onnx"], { files, limits: { timeoutMs: 500 } });
    expect(r.outcome.kind === "limit" && r.outcome.limit).toBe("timeout");
    const next = await probeRun(["output-index"]);
    expect(next.out).toContain("compute=success");
  });

  test("a stopped run stops its inference", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort("stopped by the test"), 800);
    const r = await probeRun(["spin1", "spin.onnx"], { files: spinning, signal: ac.signal });
    expect(r.outcome.kind).toBe("aborted");
  });
});
