// Public API of the runtime room.

import { binRunner } from "./runners/bin.ts";
import { dockerRunner } from "./runners/docker.ts";
import { pythonRunner } from "./runners/python.ts";
import { wasmRunner } from "./wasm-runner.ts";
import type { AlgoType, Runner } from "./types.ts";

export * from "./types.ts";
export { wasmRunner, runWasmSpec, prepareWasmSpec, computationPreopens } from "./wasm-runner.ts";
export {
  configureCache,
  prepareWasm,
  runPrepared,
  runWasm,
  transpileCache,
  warmup,
  type PreopenSpec,
  type RunTimings,
  type WasmOutcome,
  type WasmRunOptions,
  type DatasetEntry,
  type TranspiledComponent,
} from "./wasm-engine.ts";
export { detectWasmKind, loadWasm, adaptPreview1, sha3Hex, type WasmKind } from "./load.ts";
export { TranspileCache, transpileUpload, checkWorld, SUPPORTED_IMPORTS } from "./transpile.ts";
export { main as wasmCommand } from "./wasm-command.ts";
export { binRunner, pythonRunner, dockerRunner };

const RUNNERS: Record<AlgoType, Runner> = {
  wasm: wasmRunner,
  bin: binRunner,
  python: pythonRunner,
  docker: dockerRunner,
};

export function runnerFor(type: AlgoType): Runner {
  const r = RUNNERS[type];
  if (!r) throw new Error(`unknown algorithm type ${JSON.stringify(type)}: expected wasm, bin, python or docker`);
  return r;
}
