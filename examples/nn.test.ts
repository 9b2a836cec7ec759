// The wasi-nn examples: iris-nn serves the model iris-train exports (model.onnx) and agrees with
// iris-inference; vad-nn runs a third-party model (Silero VAD, from an npm package) and agrees
// with ONNX Runtime called directly. Through the runtime's wasm runner and `bun run wasm -- run`.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { DATA_DIR, DIST_DIR, buildExamples, paths } from "./build.ts";
import { BLOG_INPUT, IRIS_TEST_ROWS, type WorkDir, irisRows, makeWorkDir, runNative, runWasmIn } from "./harness.ts";
import { runWasmSpec } from "../runtime/wasm-runner.ts";
import { SESSION_OPTIONS } from "../runtime/nn/backend.ts";
import { SILERO_VAD, testAudio } from "./nn-fixtures.ts";

setDefaultTimeout(60_000);
const ROOT = join(import.meta.dir, "..");
const IRIS_NN = join(DIST_DIR, "iris-nn.wasm");
const VAD_NN = join(DIST_DIR, "vad-nn.wasm");
const work: WorkDir[] = [];
const workDir = (files: string[] = []) => {
  const w = makeWorkDir(files, "cocos-nn-example-");
  work.push(w);
  return w;
};
const sha3 = (path: string) => new Bun.CryptoHasher("sha3-256").update(readFileSync(path)).digest("hex");
let trained: WorkDir;

beforeAll(async () => {
  await buildExamples({ only: ["iris-train", "iris-inference", "iris-nn", "vad-nn"], skipJs: true });
  trained = workDir([join(DATA_DIR, "Iris.csv")]);
  const r = await runNative("iris-train", [], trained);
  if (r.code !== 0) throw new Error(`iris-train failed: ${r.stderr}`);
}, 300_000);
afterAll(() => {
  for (const w of work) w.dispose();
});

/** Runs a wasi-nn example with its datasets listed (name + SHA3-256), as the agent does. */
async function runNn(file: string, args: string[], datasets: string[]) {
  const w = workDir(datasets);
  const listed = datasets.map((p) => ({ name: p.split("/").pop()!, hash: sha3(p) }));
  const r = await runWasmIn(runWasmSpec, file, args, w, listed);
  return { ...r, resultsDir: w.resultsDir, results: () => readFileSync(join(w.resultsDir, "results.txt"), "utf8") };
}

describe("iris-nn (wasi-nn: preview-1 module and component)", () => {
  test("iris-train also writes model.onnx: the same MLP, ONNX Runtime predicts Iris-versicolor for the blog input", async () => {
    const s = await InferenceSession.create(join(trained.resultsDir, "model.onnx"));
    expect(s.inputNames).toEqual(["input"]);
    const out = await s.run({ input: new Tensor("float32", Float32Array.from([7.0, 3.2, 4.7, 1.4]), [1, 4]) });
    const p = out.probabilities!.data as Float32Array;
    expect(p.indexOf(Math.max(...p))).toBe(1);
  });

  test("the Wasm build of iris-train writes the same model.onnx bytes as the native one", async () => {
    const r = await runNn(paths.wasm("iris-train"), [], [join(DATA_DIR, "Iris.csv")]);
    expect(r.outcome).toMatchObject({ kind: "exit", code: 0 });
    expect(sha3(join(r.resultsDir, "model.onnx"))).toBe(sha3(join(trained.resultsDir, "model.onnx")));
  });

  test("loads model.onnx by name from /datasets and prints the blog's answer, like iris-inference", async () => {
    const r = await runNn(IRIS_NN, [BLOG_INPUT], [join(trained.resultsDir, "model.onnx")]);
    expect(r.outcome).toMatchObject({ kind: "exit", code: 0 });
    expect(r.results()).toBe("Iris-versicolor");
    expect(r.stdout).toEqual(["Iris-versicolor"]);
  });

  test("agrees with iris-inference (model.json) on every third row of the test split", async () => {
    const rows = irisRows(readFileSync(join(DATA_DIR, "Iris.csv"), "utf8"));
    const infer = workDir([join(trained.resultsDir, "model.json")]);
    for (const i of IRIS_TEST_ROWS.filter((_, k) => k % 3 === 0)) {
      const row = rows[i]!;
      const want = await runNative("iris-inference", [row.input], infer);
      const got = await runNn(IRIS_NN, [row.input], [join(trained.resultsDir, "model.onnx")]);
      expect(got.stdout).toEqual([want.stdout.trim()]);
    }
  });

  test("without the model among the datasets: not_found, exit 1, the reason in the log", async () => {
    const r = await runNn(IRIS_NN, [BLOG_INPUT], [join(DATA_DIR, "Iris.csv")]);
    expect(r.outcome).toMatchObject({ kind: "exit", code: 1 });
    expect(r.stderr.join("\n")).toContain('wasi-nn load_by_name: not-found: no dataset named "model.onnx"');
  });

  test("the component (wasi:nn WIT interfaces) gives the same answer", async () => {
    const r = await runNn(join(DIST_DIR, "iris-nn.component.wasm"), [BLOG_INPUT], [join(trained.resultsDir, "model.onnx")]);
    expect(r.outcome).toMatchObject({ kind: "exit", code: 0 });
    expect(r.results()).toBe("Iris-versicolor");
  });

  test("the component gets an error resource: code and message, no host path", async () => {
    const r = await runNn(join(DIST_DIR, "iris-nn.component.wasm"), [BLOG_INPUT, "nope.onnx"], [join(trained.resultsDir, "model.onnx")]);
    expect(r.outcome).toMatchObject({ kind: "exit", code: 1 });
    const log = r.stderr.join("\n");
    expect(log).toContain('wasi-nn load-by-name failed: not-found: no dataset named "nope.onnx": the computation\'s datasets are model.onnx');
    expect(log).not.toContain("cocos-nn-example-");
  });

  test("bun run wasm -- run: /datasets is where load_by_name looks", async () => {
    const w = workDir([join(trained.resultsDir, "model.onnx")]);
    const p = Bun.spawn(
      ["bun", join(ROOT, "runtime", "wasm-command.ts"), "run", "--dir", `${w.datasetsDir}::/datasets::ro`, "--dir", `${w.resultsDir}::/results`, IRIS_NN, BLOG_INPUT],
      { stdout: "pipe", stderr: "pipe" },
    );
    const [code, out] = await Promise.all([p.exited, new Response(p.stdout).text()]);
    expect(code).toBe(0);
    expect(out.trim()).toBe("Iris-versicolor");
  });
});

describe("vad-nn (a third-party ONNX model through wasi-nn)", () => {
  test("Silero VAD v4 per-frame probabilities equal ONNX Runtime's, called directly", async () => {
    const audio = testAudio();
    const w = workDir();
    const audioPath = join(w.dir, "audio.f32");
    writeFileSync(audioPath, new Uint8Array(audio.buffer));
    const modelPath = join(w.dir, "silero_vad.onnx");
    copyFileSync(SILERO_VAD, modelPath);
    const r = await runNn(VAD_NN, [], [modelPath, audioPath]);
    expect(r.outcome).toMatchObject({ kind: "exit", code: 0 });
    const got = r.results().trim().split("\n").map(Number);

    const s = await InferenceSession.create(SILERO_VAD, { ...SESSION_OPTIONS });
    let h: Tensor = new Tensor("float32", new Float32Array(128), [2, 1, 64]);
    let c: Tensor = new Tensor("float32", new Float32Array(128), [2, 1, 64]);
    const want: number[] = [];
    for (let f = 0; f < 8; f++) {
      const input = new Tensor("float32", audio.slice(f * 1536, (f + 1) * 1536), [1, 1536]);
      const sr = new Tensor("int64", BigInt64Array.from([16000n]), []);
      const out = await s.run({ input, sr, h, c });
      want.push((out.output!.data as Float32Array)[0]!);
      h = out.hn as Tensor;
      c = out.cn as Tensor;
    }
    expect(got.length).toBe(8);
    for (let i = 0; i < 8; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-6);
    // The model hears the difference (a sanity check of the fixture, not of the runtime).
    expect(Math.max(...got.slice(0, 3))).toBeLessThan(Math.max(...got.slice(3)));
  });
});
