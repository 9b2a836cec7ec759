// The `wasm` algorithm type: the RunSpec contract on top of the Worker engine. The guest sees
// /datasets (read-only), /results and "." (both the results directory), its args and env only.

import { basename } from "node:path";
import { LineSplitter } from "./runners/lines.ts";
import { prepareWasm, runPrepared, runWasm, type TranspiledComponent, type WasmOutcome, type WasmRunOptions } from "./wasm-engine.ts";
import { epochNow } from "./worker-protocol.ts";
import type { PreparedAlgorithm, RunSpec, Runner } from "./types.ts";

/** Preopens of a computation (the Cocos/WasmEdge layout). */
export function computationPreopens(datasetsDir: string, resultsDir: string) {
  return [
    { guestPath: "/datasets", hostPath: datasetsDir, readOnly: true },
    { guestPath: "/results", hostPath: resultsDir, readOnly: false },
    { guestPath: ".", hostPath: resultsDir, readOnly: false },
  ];
}

/**
 * Runs spec.algorithmPath as a Wasm component or preview-1 module. Resolves with the outcome (and
 * its timings) for anything the guest does; rejects with AlgorithmError when the file cannot run at
 * all (not Wasm, truncated, imports the host does not provide).
 */
export async function runWasmSpec(spec: RunSpec): Promise<WasmOutcome> {
  const bytes = new Uint8Array(await Bun.file(spec.algorithmPath).arrayBuffer());
  return withSpec(spec, (opts) => runWasm(bytes, opts));
}

/** Reads, hashes and transpiles once; the returned run() goes straight to the Worker. */
export async function prepareWasmSpec(
  algorithmPath: string,
  known: { sha3?: string } = {},
): Promise<PreparedAlgorithm & { component: TranspiledComponent }> {
  const bytes = new Uint8Array(await Bun.file(algorithmPath).arrayBuffer());
  const { component, cached } = await prepareWasm(bytes, undefined, { sha3: known.sha3 });
  let first = !cached;
  return {
    component,
    run: (spec) =>
      withSpec(spec, (opts) => {
        // Only the first run after an uncached prepare reports the transpile it paid for.
        const prep = { cached: !first, startedAt: epochNow() };
        first = false;
        return runPrepared(component, opts, prep);
      }),
  };
}

/** The RunSpec as engine options (the computation's preopens, line-split logs) around one run. */
async function withSpec(spec: RunSpec, run: (opts: WasmRunOptions) => Promise<WasmOutcome>): Promise<WasmOutcome> {
  const out = new LineSplitter((l) => spec.onLog?.("stdout", l));
  const err = new LineSplitter((l) => spec.onLog?.("stderr", l));
  try {
    return await run({
      argv: [basename(spec.algorithmPath), ...spec.args],
      env: spec.env ?? {},
      preopens: computationPreopens(spec.datasetsDir, spec.resultsDir),
      limits: spec.limits,
      onStdout: (d) => out.push(d),
      onStderr: (d) => err.push(d),
      onProgress: spec.onProgress,
      datasets: spec.datasets?.map((d) => ({ name: d.name, hash: d.hash, size: -1 })),
      datasetsDir: spec.datasetsDir,
      resultsDir: spec.resultsDir,
      signal: spec.signal,
    });
  } finally {
    out.flush();
    err.flush();
  }
}

export const wasmRunner: Runner = {
  type: "wasm",
  async unavailable() {
    return typeof WebAssembly === "object" && typeof Worker === "function" ? null : "WebAssembly or Worker unavailable";
  },
  prepare: prepareWasmSpec,
  run: runWasmSpec,
};
