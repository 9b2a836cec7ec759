// Differential test against the WASI reference implementation: every example (preview-1 core module
// and the component made from it) runs under wasmtime and under our runtime with the computation's
// layout (/datasets read-only, /results and "." the results directory); exit code, stdout and every
// result file must agree. The JS components need the cocos:computation host, which wasmtime lacks:
// for them wasmtime's validator and compiler are the standard check.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { C_PROGRAMS, DATA_DIR, JS_COMPONENTS, buildExamples, paths } from "../examples/build.ts";
import { BLOG_INPUT, type WorkDir, makeWorkDir } from "../examples/harness.ts";
import { runWasmSpec } from "../runtime/index.ts";
import { WASMTIME_RUN, runUnderWasmtime, wasmtimeForTests } from "../runtime/conformance/wasmtime.ts";

type Program = (typeof C_PROGRAMS)[number];
interface Case {
  program: Program;
  args: string[];
  /** Datasets copied into /datasets (model.json comes from the iris-train run). */
  datasets?: string[];
  model?: boolean;
}
const CASES: Case[] = [
  { program: "addition", args: [] },
  { program: "iris-train", args: [], datasets: [join(DATA_DIR, "Iris.csv")] },
  { program: "iris-inference", args: [BLOG_INPUT], model: true },
  { program: "iris-inference", args: ["{not json"], model: true },
  { program: "iris-inference", args: [BLOG_INPUT] }, // no model: fails
  { program: "matmul", args: ["120"] },
  { program: "kmeans", args: ["4000"] },
  { program: "sha256", args: ["2"] },
];

let python = "";
let skip = "";
let model = "";
const dirs: WorkDir[] = [];

beforeAll(async () => {
  const [w] = await Promise.all([wasmtimeForTests(), buildExamples({ skipJs: true })]);
  if ("missing" in w) skip = w.missing;
  else python = w.python;
  // The model the inference cases read: trained by the native build (identical bytes, see examples.test.ts).
  const work = makeWorkDir([join(DATA_DIR, "Iris.csv")]);
  dirs.push(work);
  const p = Bun.spawn([paths.native("iris-train")], { cwd: work.dir, stdout: "ignore", stderr: "ignore", env: {} });
  if ((await p.exited) !== 0) throw new Error("native iris-train failed");
  model = readFileSync(join(work.resultsDir, "model.json"), "utf8");
}, 300_000);

afterAll(() => {
  for (const d of dirs) d.dispose();
});

function results(w: WorkDir): Record<string, string> {
  return Object.fromEntries(readdirSync(w.resultsDir).sort().map((n) => [n, readFileSync(join(w.resultsDir, n), "latin1")]));
}

function workFor(c: Case): WorkDir {
  const w = makeWorkDir(c.datasets ?? [], "cocos-diff-");
  if (c.model) writeFileSync(join(w.datasetsDir, "model.json"), model);
  dirs.push(w);
  return w;
}

async function ours(file: string, c: Case) {
  const w = workFor(c);
  let stdout = "";
  const o = await runWasmSpec({
    algoType: "wasm",
    algorithmPath: file,
    args: c.args,
    datasetsDir: w.datasetsDir,
    resultsDir: w.resultsDir,
    workDir: w.dir,
    onLog: (s, line) => {
      if (s === "stdout") stdout += `${line}\n`;
    },
  });
  return { code: o.kind === "exit" ? o.code : `${o.kind}`, stdout, results: results(w) };
}

async function reference(file: string, c: Case) {
  const w = workFor(c);
  const r = await runUnderWasmtime(python, file, {
    args: c.args,
    dirs: [
      [w.datasetsDir, "/datasets"],
      [w.resultsDir, "/results"],
      [w.resultsDir, "."],
    ],
    cwd: w.dir,
  });
  if (r.code === 134) throw new Error(`wasmtime trapped on ${file}:\n${r.stderr}`);
  // Our line splitter ends the last line with \n too.
  const stdout = r.stdout && !r.stdout.endsWith("\n") ? `${r.stdout}\n` : r.stdout;
  return { code: r.code, stdout, results: results(w) };
}

describe("examples under wasmtime and under our runtime", () => {
  for (const kind of ["module", "component"] as const) {
    for (const c of CASES) {
      const label = `${kind}: ${c.program} ${c.args.join(" ").slice(0, 24)}${c.model ? " (with model)" : ""}`;
      test(label, async () => {
        if (skip) return console.warn(`SKIP (wasmtime unavailable: ${skip})`);
        const file = kind === "module" ? paths.wasm(c.program) : paths.component(c.program);
        const [a, b] = await Promise.all([reference(file, c), ours(file, c)]);
        expect(b).toEqual(a);
      }, 60_000);
    }
  }

  test("the JS components are standard components (wasmtime validates and compiles them)", async () => {
    if (skip) return console.warn(`SKIP (wasmtime unavailable: ${skip})`);
    await buildExamples({ only: JS_COMPONENTS.map((c) => c.name) });
    for (const c of JS_COMPONENTS) {
      const p = Bun.spawn([python, WASMTIME_RUN, "--compile", paths.component(c.name)], { stdout: "pipe", stderr: "pipe" });
      const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      expect({ component: c.name, code, err: err.slice(-400) }).toEqual({ component: c.name, code: 0, err: "" });
    }
  }, 120_000);
});
