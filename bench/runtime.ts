// `bun run bench -- runtime`: every C example natively (cc -O2) and as Wasm through the project's
// runtime, in the same run, alternating, N runs each (BENCH_RUNS, default 5); medians. Also the cold
// start (upload done → the guest's entry export is called) of the ~270 KB addition component with
// and without the transpile cache.
//
// Per workload: wall ms (native: spawn → exit; Wasm: runWasm() call → outcome, with the transpile
// cache warm and the runtime's spare Worker booted and preloaded, as for a rerun, so hand-off +
// instantiate + run) and, for the kernels, the compute loop alone ("kernel_ms" on stderr, timed by
// the guest itself with the monotonic clock), also without the runtime's loop checks (their cost).
// Run 0 of each workload is a warm-up and is not counted.

import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { type CProgram, DATA_DIR, KERNELS, buildExamples, paths } from "../examples/build.ts";
import { BLOG_INPUT, type WorkDir, kernelMs, makeWorkDir, runNative } from "../examples/harness.ts";
import { computationPreopens, configureCache, prepareWasm, runPrepared, runWasm, warmup, type WasmOutcome } from "../runtime/index.ts";
import { transpileUpload, type TranspiledComponent } from "../runtime/transpile.ts";
import { printSideBySide, sideBySide } from "./runtime-side-by-side.ts";

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
/** Idle time before each measured Wasm run: in the agent an upload takes at least this long, and
 * the runtime boots its spare Worker meanwhile; back-to-back runs would measure that boot instead. */
const SETTLE_MS = 300;
const IRIS_CSV = join(DATA_DIR, "Iris.csv");

interface Workload {
  name: CProgram;
  args: string[];
  datasets: () => string[];
}

export interface WorkloadResult {
  name: string;
  runs: number;
  nativeMs: number;
  wasmMs: number;
  ratio: number;
  /** Kernels only: the compute loop as timed by the program itself. */
  nativeKernelMs?: number;
  wasmKernelMs?: number;
  kernelRatio?: number;
  kernelMinRatio?: number;
  /** Kernels only: the same loop on Bun's node:wasi (JSC, no adapter/Worker/instrumentation). */
  engineKernelMs?: number;
  engineKernelRatio?: number;
  /** Kernels only: the runtime without the loop checks, and what the checks cost (instrumented / not). */
  uninstrumentedKernelMs?: number;
  instrumentationCost?: number;
  /** Fastest run of each side: less sensitive to other load on a shared machine. */
  /** Wasm only: median of run start → guest entry (worker hand-off, import, instantiate). */
  wasmStartMs: number;
  nativeMinMs: number;
  wasmMinMs: number;
  minRatio: number;
  /** stdout and every results file were identical between native and Wasm on every run. */
  outputsIdentical: boolean;
}

export interface WorkloadFailure {
  name: string;
  error: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const geomean = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function wasmOnce(file: Uint8Array, name: string, args: string[], w: WorkDir) {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const t = performance.now();
  const outcome: WasmOutcome = await runWasm(file, {
    argv: [name, ...args],
    preopens: computationPreopens(w.datasetsDir, w.resultsDir),
    datasetsDir: w.datasetsDir,
    onStdout: (d) => out.push(d),
    onStderr: (d) => err.push(d),
  });
  const ms = performance.now() - t;
  const text = (parts: Uint8Array[]) => Buffer.concat(parts).toString("utf8");
  if (outcome.kind !== "exit" || outcome.code !== 0) {
    throw new Error(`wasm ${name}: expected exit 0, got ${JSON.stringify(outcome)}; stderr: ${text(err)}`);
  }
  return { ms, stdout: text(out), stderr: text(err), outcome };
}

function resultsSnapshot(w: WorkDir, files: string[]): string {
  return files.map((f) => `${f}\0${readFileSync(join(w.resultsDir, f), "utf8")}`).join("\0");
}

/** The kernel time of one run of a prepared component (here: without the loop checks). */
async function preparedKernel(c: TranspiledComponent, name: string, w: WorkDir): Promise<number> {
  const err: Uint8Array[] = [];
  const o = await runPrepared(c, { argv: [name], preopens: computationPreopens(w.datasetsDir, w.resultsDir), onStderr: (d) => err.push(d) });
  const ms = kernelMs(Buffer.concat(err).toString("utf8"));
  if (o.kind !== "exit" || o.code !== 0 || ms === null) throw new Error(`uninstrumented ${name}: ${JSON.stringify(o)}`);
  return ms;
}

async function bench(wl: Workload, resultFiles: string[]): Promise<WorkloadResult> {
  const wasm = new Uint8Array(readFileSync(paths.component(wl.name)));
  const native: number[] = [], wasmMs: number[] = [], starts: number[] = [], nk: number[] = [], wk: number[] = [];
  const ek: number[] = [], uk: number[] = [];
  const isKernel = KERNELS.includes(wl.name);
  const bare = isKernel ? await transpileUpload(wasm, `uninstrumented-${wl.name}`, { interruptible: false }) : undefined;
  let identical = true;
  // Run 0 warms the page cache, the transpile cache and the JIT's code cache; not counted.
  for (let i = 0; i <= RUNS; i++) {
    const wn = makeWorkDir(wl.datasets(), "cocos-bench-");
    const ww = makeWorkDir(wl.datasets(), "cocos-bench-");
    try {
      // Let the previous iteration's work (the next spare Worker's boot and preload) finish first.
      await Bun.sleep(SETTLE_MS);
      const n = await runNative(wl.name, wl.args, wn);
      if (n.code !== 0) throw new Error(`native ${wl.name}: expected exit 0, got ${n.code}; stderr: ${n.stderr}`);
      await Bun.sleep(SETTLE_MS);
      const r = await wasmOnce(wasm, wl.name, wl.args, ww);
      identical &&= n.stdout === r.stdout && resultsSnapshot(wn, resultFiles) === resultsSnapshot(ww, resultFiles);
      if (i === 0) continue;
      native.push(n.ms);
      wasmMs.push(r.ms);
      starts.push(r.outcome.timings.firstInstructionMs);
      if (isKernel) ek.push(await engineKernel(wl.name, wl.args));
      if (bare) {
        await Bun.sleep(SETTLE_MS);
        uk.push(await preparedKernel(bare, wl.name, ww));
        await prepareWasm(wasm); // the spare preloads the instrumented component again, as for a rerun
      }
      const a = kernelMs(n.stderr), b = kernelMs(r.stderr);
      if (a !== null && b !== null) {
        nk.push(a);
        wk.push(b);
      }
    } finally {
      wn.dispose();
      ww.dispose();
    }
  }
  const res: WorkloadResult = {
    name: wl.name,
    runs: RUNS,
    nativeMs: round(median(native)),
    wasmMs: round(median(wasmMs)),
    ratio: round(median(wasmMs) / median(native), 3),
    wasmStartMs: round(median(starts)),
    nativeMinMs: round(Math.min(...native)),
    wasmMinMs: round(Math.min(...wasmMs)),
    minRatio: round(Math.min(...wasmMs) / Math.min(...native), 3),
    outputsIdentical: identical,
  };
  if (nk.length) {
    res.nativeKernelMs = round(median(nk));
    res.wasmKernelMs = round(median(wk));
    res.kernelRatio = round(median(wk) / median(nk), 3);
    res.kernelMinRatio = round(Math.min(...wk) / Math.min(...nk), 3);
  }
  if (ek.length) {
    res.engineKernelMs = round(median(ek));
    res.engineKernelRatio = round(median(ek) / median(nk), 3);
  }
  if (uk.length) {
    res.uninstrumentedKernelMs = round(median(uk));
    res.instrumentationCost = round(median(wk) / median(uk), 3);
  }
  return res;
}

/** Kernel time of the preview-1 module on plain node:wasi in a child Bun (bench/engine-baseline.mjs). */
async function engineKernel(name: CProgram, args: string[]): Promise<number> {
  const p = Bun.spawn([process.execPath, join(import.meta.dir, "engine-baseline.mjs"), paths.wasm(name), ...args], {
    stdout: "ignore",
    stderr: "pipe",
  });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  const ms = kernelMs(err);
  if (code !== 0 || ms === null) throw new Error(`engine baseline ${name}: exit ${code}, stderr: ${err}`);
  return ms;
}

export interface ColdStart {
  component: string;
  componentBytes: number;
  /** Median upload-done → entry-export call, ms. */
  uncachedMs: number;
  cachedMs: number;
  /** Breakdown medians of the uncached runs. */
  uncachedTranspileMs: number;
  cachedWorkerMs: number;
  cachedImportMs: number;
  cachedInstantiateMs: number;
  /** Cached runs whose Worker had the generated JS imported and warmed ahead (prepareWasm / a rerun). */
  cachedPreloadedRuns: number;
  /** The same for the preview-1 module (adds the adapter wrap), uncached. */
  preview1UncachedMs: number;
}

export async function coldStart(): Promise<ColdStart> {
  const name: CProgram = "addition";
  const comp = new Uint8Array(readFileSync(paths.component(name)));
  const core = new Uint8Array(readFileSync(paths.wasm(name)));
  const un: WasmOutcome[] = [], ca: WasmOutcome[] = [], p1: WasmOutcome[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const w = makeWorkDir([], "cocos-bench-");
    try {
      configureCache({}); // a fresh, empty cache: this run transpiles
      await Bun.sleep(SETTLE_MS);
      const u = (await wasmOnce(comp, name, [], w)).outcome;
      await Bun.sleep(SETTLE_MS);
      const c = (await wasmOnce(comp, name, [], w)).outcome;
      configureCache({});
      await Bun.sleep(SETTLE_MS);
      const p = (await wasmOnce(core, name, [], w)).outcome;
      if (u.timings.cached || !c.timings.cached) throw new Error("transpile cache did not behave as configured");
      if (i === 0) continue;
      un.push(u);
      ca.push(c);
      p1.push(p);
    } finally {
      w.dispose();
    }
  }
  configureCache({});
  const med = (xs: WasmOutcome[], f: (o: WasmOutcome) => number) => round(median(xs.map(f)));
  return {
    component: `examples/dist/${name}.component.wasm`,
    componentBytes: comp.byteLength,
    uncachedMs: med(un, (o) => o.timings.firstInstructionMs),
    cachedMs: med(ca, (o) => o.timings.firstInstructionMs),
    uncachedTranspileMs: med(un, (o) => o.timings.transpileMs),
    cachedWorkerMs: med(ca, (o) => o.timings.workerMs),
    cachedImportMs: med(ca, (o) => o.timings.importMs),
    cachedInstantiateMs: med(ca, (o) => o.timings.instantiateMs),
    cachedPreloadedRuns: ca.filter((o) => o.timings.preloaded).length,
    preview1UncachedMs: med(p1, (o) => o.timings.firstInstructionMs),
  };
}

export async function run(): Promise<object> {
  await buildExamples({ skipJs: true, log: (l) => console.log(l) });
  warmup();

  // The inference workload's dataset is a model trained here, as in the Cocos workflow.
  const train = makeWorkDir([IRIS_CSV], "cocos-bench-");
  const trained = await runNative("iris-train", [], train);
  if (trained.code !== 0) throw new Error(`iris-train failed: ${trained.stderr}`);
  const modelPath = join(train.resultsDir, "model.json");

  const workloads: [Workload, string[]][] = [
    [{ name: "addition", args: [], datasets: () => [] }, ["results.txt"]],
    [{ name: "iris-train", args: [], datasets: () => [IRIS_CSV] }, ["model.json", "metrics.json", "training.log"]],
    [{ name: "iris-inference", args: [BLOG_INPUT], datasets: () => [modelPath] }, ["results.txt"]],
    ...KERNELS.map((k): [Workload, string[]] => [{ name: k, args: [], datasets: () => [] }, []]),
  ];
  const results: WorkloadResult[] = [];
  const failures: WorkloadFailure[] = [];
  let side: Awaited<ReturnType<typeof sideBySide>> = [];
  try {
    for (const [wl, files] of workloads) {
      try {
        const r = await bench(wl, files);
        results.push(r);
        console.log(`  ${wl.name}: native ${r.nativeMs} ms, wasm ${r.wasmMs} ms`);
      } catch (e) {
        // Keep measuring the rest; the failure is reported in the table and the JSON.
        failures.push({ name: wl.name, error: (e as Error).message });
        console.log(`  ${wl.name}: FAILED ${(e as Error).message.split("\n")[0]}`);
      }
    }
    console.log("side by side (whole processes):");
    side = await sideBySide(RUNS, modelPath, (l) => console.log(l));
  } finally {
    train.dispose();
  }
  const cold = await coldStart();

  // The design's figure is run time of compute: workloads that run long enough to measure the code
  // rather than process/worker start-up (addition and inference run for microseconds).
  const compute = results.filter((r) => r.name === "iris-train" || KERNELS.includes(r.name as CProgram));
  const kernels = results.filter((r) => r.kernelRatio !== undefined);
  const flite = side.find((r) => r.name === "flite");
  const trivial = side.find((r) => r.name === "addition");
  const summary = {
    /** Issue 14's targets, each with its figure. */
    sideBySide: {
      inProcessKernelVsNative: round(geomean(kernels.map((r) => r.kernelRatio!)), 3),
      inProcessKernelVsBunWasi: round(geomean(kernels.map((r) => r.wasmKernelMs! / r.engineKernelMs!)), 3),
      trivialWasmRunMs: trivial?.results.oursProcess?.ms,
      trivialWasmtimeMs: trivial?.results.wasmtime?.ms,
      fliteOursProcessMs: flite?.results.oursProcess?.ms,
      fliteNodeWasiMs: flite?.results.nodeWasi?.ms,
      fliteWasmtimeMs: flite?.results.wasmtime?.ms,
      fliteOursPeakMiB: flite?.results.oursProcess?.peakRssMiB,
      fliteNodePeakMiB: flite?.results.nodeWasi?.peakRssMiB,
      targets: { inProcessKernelVsNative: 1.3, inProcessKernelVsBunWasi: 1.1, trivialWasmRunVsWasmtime: 1, fliteVsNode: 1, fliteRssVsNode: 1.2 },
    },
    geomeanRatio: round(geomean(compute.map((r) => r.ratio)), 3),
    geomeanRatioWorkloads: compute.map((r) => r.name),
    geomeanKernelRatio: round(geomean(kernels.map((r) => r.kernelRatio!)), 3),
    geomeanMinRatio: round(geomean(compute.map((r) => r.minRatio)), 3),
    geomeanEngineKernelRatio: round(geomean(kernels.map((r) => r.engineKernelRatio!)), 3),
    geomeanKernelMinRatio: round(geomean(kernels.map((r) => r.kernelMinRatio!)), 3),
    geomeanInstrumentationCost: round(geomean(kernels.map((r) => r.instrumentationCost!)), 3),
    loadAverage: loadavg().map((x) => round(x)),
    geomeanAllRatio: round(geomean(results.map((r) => r.ratio)), 3),
    failedWorkloads: failures.map((f) => f.name),
    coldStartCachedMs: cold.cachedMs,
    coldStartUncachedMs: cold.uncachedMs,
    targets: { geomeanRatio: 1.3, coldStartCachedMs: 50, coldStartUncachedMs: 200 },
  };

  console.log("");
  console.log("workload         native ms   wasm ms   ratio   (wasm start)   kernel: native   wasm   ratio   identical");
  for (const r of results) {
    const k = r.kernelRatio === undefined ? "" : `${String(r.nativeKernelMs).padStart(14)} ${String(r.wasmKernelMs).padStart(7)} ${r.kernelRatio.toFixed(2).padStart(7)}`;
    console.log(
      `${r.name.padEnd(16)} ${r.nativeMs.toFixed(1).padStart(9)} ${r.wasmMs.toFixed(1).padStart(9)} ${r.ratio.toFixed(2).padStart(7)}   ${r.wasmStartMs.toFixed(1).padStart(12)}   ${k.padEnd(30)} ${r.outputsIdentical ? "yes" : "NO"}`,
    );
  }
  for (const f of failures) console.log(`${f.name.padEnd(16)} FAILED: ${f.error.split("\n")[0]}`);
  console.log(
    `geomean wasm/native: ${summary.geomeanRatio} (wall, ${summary.geomeanRatioWorkloads.join(", ")}; target ≤ 1.3), ` +
      `${summary.geomeanKernelRatio} (kernel loops only), ${summary.geomeanAllRatio} (all workloads)`,
  );
  console.log(
    `engine-only kernels (Bun node:wasi, no runtime): ${kernels.map((r) => `${r.name} ${r.engineKernelRatio}`).join(", ")}; geomean ${summary.geomeanEngineKernelRatio}`,
  );
  console.log(
    `loop checks (kernel with / without): ${kernels.map((r) => `${r.name} ${r.instrumentationCost}`).join(", ")}; geomean ${summary.geomeanInstrumentationCost}`,
  );
  console.log(
    `fastest-run geomean: ${summary.geomeanMinRatio} (wall), ${summary.geomeanKernelMinRatio} (kernel loops); load average ${summary.loadAverage.join(" ")}`,
  );
  console.log(
    `cold start ${cold.componentBytes} B component: cached ${cold.cachedMs} ms (target ≤ 50), uncached ${cold.uncachedMs} ms ` +
      `(target ≤ 200; transpile ${cold.uncachedTranspileMs} ms); preview-1 module uncached ${cold.preview1UncachedMs} ms`,
  );

  console.log("");
  printSideBySide(side, (l) => console.log(l));
  const t = summary.sideBySide;
  console.log(
    `targets: in-process kernels ${t.inProcessKernelVsNative}× native (≤ 1.3), ${t.inProcessKernelVsBunWasi}× Bun node:wasi (≤ 1.1); ` +
      `wasm run trivial ${t.trivialWasmRunMs} ms vs wasmtime-py ${t.trivialWasmtimeMs} ms; flite ${t.fliteOursProcessMs} ms vs node:wasi ` +
      `${t.fliteNodeWasiMs} ms, peak ${t.fliteOursPeakMiB} MiB vs ${t.fliteNodePeakMiB} MiB (≤ 1.2×)`,
  );

  return {
    suite: "runtime",
    date: new Date().toISOString(),
    machine: { bun: Bun.version, platform: process.platform, arch: process.arch, cpus: navigator.hardwareConcurrency },
    runs: RUNS,
    build: { wasm: "clang --target=wasm32-wasi -O2 -msimd128 + examples/c/cabi-realloc.c → jco componentNew + preview-1 command adapter", native: "cc -O2" },
    summary,
    workloads: results,
    failures,
    coldStart: cold,
    sideBySide: side,
  };
}
