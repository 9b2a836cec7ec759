#!/usr/bin/env bun
// `bun run demo [-- --backend process|qemu] [--bins dist|source] [--verbose]`: the Iris workflow for a
// human. Computations server, manager and agent run as separate programs; cocos-cli plays the three
// parties. Prints each step, the events the control plane receives, and the prediction.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { defaultBackend, runIrisWorkflow, type Backend, type BinMode } from "./iris-workflow.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    backend: { type: "string" },
    bins: { type: "string", default: "auto" },
    verbose: { type: "boolean", short: "v", default: false },
    keep: { type: "boolean", default: false },
  },
});

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

let backend: Backend;
if (values.backend === undefined) {
  const d = defaultBackend();
  backend = d.backend;
  console.log(bold(`backend: ${backend}`) + ` (${d.reason}; choose with --backend process|qemu)`);
} else if (values.backend === "process" || values.backend === "qemu") {
  backend = values.backend;
  console.log(bold(`backend: ${backend}`) + " (from --backend)");
} else {
  console.error(`--backend: expected process or qemu, got ${JSON.stringify(values.backend)}`);
  process.exit(2);
}
if (!["auto", "dist", "source"].includes(values.bins!)) {
  console.error(`--bins: expected auto, dist or source, got ${JSON.stringify(values.bins)}`);
  process.exit(2);
}

const workDir = mkdtempSync(join(tmpdir(), "cocos-demo-"));
const started = performance.now();
try {
  const r = await runIrisWorkflow({
    workDir,
    backend,
    bins: values.bins as BinMode | "auto",
    // The same question answered a second way: iris-nn.wasm through wasi-nn (ONNX Runtime in the agent).
    nn: true,
    say: (l) => console.log(/^\d+\./.test(l) ? bold(l) : l),
    show: (program, line) => {
      // The control plane's view: every event; logs and the other programs only with --verbose.
      if (program === "computations" && /^\S+ event /.test(line)) console.log(dim(`   [event] ${line.replace(/^\S+ event +/, "")}`));
      else if (values.verbose) console.log(dim(`   [${program}] ${line}`));
    },
  });
  console.log(`programs: ${r.programs.mode === "dist" ? `compiled binaries from ${r.programs.dir}` : "sources under bun (no dist/ build)"}`);
  console.log(bold(`Result: ${r.prediction}`) + `, through wasi-nn: ${r.nnPrediction}` + `  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
} catch (e) {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  if (!values.keep) rmSync(workDir, { recursive: true, force: true });
}
