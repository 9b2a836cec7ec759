// Runs the native builds of the examples the way Cocos runs a `bin` algorithm: cwd holds
// datasets/ and results/. Used by the tests and the benchmark.

import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type CProgram, paths } from "./build.ts";

export interface WorkDir {
  dir: string;
  datasetsDir: string;
  resultsDir: string;
  /** Removes the whole directory. */
  dispose(): void;
}

/** A fresh temp dir with datasets/ (copies of `datasets`) and an empty results/. */
export function makeWorkDir(datasets: string[] = [], prefix = "cocos-example-"): WorkDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const datasetsDir = join(dir, "datasets");
  const resultsDir = join(dir, "results");
  mkdirSync(datasetsDir);
  mkdirSync(resultsDir);
  for (const f of datasets) cpSync(f, join(datasetsDir, basename(f)));
  return { dir, datasetsDir, resultsDir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The part of the runtime's RunSpec an example's Wasm run fills (examples/ imports no other room). */
export interface WasmRunSpec {
  algoType: "wasm";
  algorithmPath: string;
  args: string[];
  datasetsDir: string;
  resultsDir: string;
  workDir: string;
  datasets?: { name: string; hash: string }[];
  onLog: (stream: "stdout" | "stderr", line: string) => void;
}

/** Runs a Wasm example in `w` through the runtime's `run`, collecting its log lines. */
export async function runWasmIn<O>(
  run: (spec: WasmRunSpec) => Promise<O>,
  file: string,
  args: string[],
  w: WorkDir,
  datasets?: WasmRunSpec["datasets"],
): Promise<{ outcome: O; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const outcome = await run({
    algoType: "wasm",
    algorithmPath: file,
    args,
    datasetsDir: w.datasetsDir,
    resultsDir: w.resultsDir,
    workDir: w.dir,
    datasets,
    onLog: (s, line) => (s === "stdout" ? stdout : stderr).push(line),
  });
  return { outcome, stdout, stderr };
}

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

export async function runNative(name: CProgram, args: string[], work: WorkDir): Promise<ProcessResult> {
  const t = performance.now();
  const p = Bun.spawn([paths.native(name), ...args], { cwd: work.dir, stdout: "pipe", stderr: "pipe", env: {} });
  const [code, stdout, stderr] = await Promise.all([
    p.exited,
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
  ]);
  return { code, stdout, stderr, ms: performance.now() - t };
}

/** The "kernel_ms N" line the benchmark kernels print on stderr, or null. */
export function kernelMs(stderr: string): number | null {
  const m = /kernel_ms ([0-9.]+)/.exec(stderr);
  return m ? Number(m[1]) : null;
}

/** The blog's inference input. */
export const BLOG_INPUT = `{"sepal_length": 7.0, "sepal_width": 3.2, "petal_length": 4.7, "petal_width": 1.4}`;

/** burn's seed-42 test split (0-based data rows of Iris.csv), as in the reference notes. */
export const IRIS_TEST_ROWS = [
  0, 6, 7, 18, 19, 20, 21, 26, 29, 33, 50, 53, 58, 62, 67, 78, 80, 82, 84, 93, 105, 107, 113, 121, 124, 133, 139, 140, 143,
  144,
] as const;

export interface IrisRow {
  id: number;
  input: string;
  species: string;
}

/** Rows of Iris.csv as inference inputs (the blog's JSON shape). */
export function irisRows(csv: string): IrisRow[] {
  return csv
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => {
      const [id, sl, sw, pl, pw, species] = line.trim().split(",");
      return {
        id: Number(id),
        input: JSON.stringify({ sepal_length: Number(sl), sepal_width: Number(sw), petal_length: Number(pl), petal_width: Number(pw) }),
        species: species!,
      };
    });
}
