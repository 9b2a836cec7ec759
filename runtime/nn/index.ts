// wasi-nn for one run, built in the run Worker next to the WASI host: the preview-1
// (wasi_ephemeral_nn, renamed at upload) and component (wasi:nn/*) imports over one backend.
// The runtime's hooks: load.ts (allow + embed), transpile.ts (NN_INTERFACES), wasm-worker.ts
// (createNn, observe, close).

import { NnBackend, nnLimitsFor } from "./backend.ts";
import type { NnErrorCode } from "./errors.ts";
import { NN_PREVIEW1_CORE_MODULE, NN_PREVIEW1_INTERFACE, preview1CoreImports, preview1Imports } from "./preview1.ts";
import { componentImports, NN_WIT_INTERFACES } from "./component.ts";
import { NativeGuard } from "./native-guard.ts";

export { embedNnPreview1, isNnPreview1Import } from "./adapt.ts";
export { nativeIdle } from "./native-guard.ts";

/** Interfaces the host provides to components (unversioned). */
export const NN_INTERFACES: readonly string[] = [NN_PREVIEW1_INTERFACE, ...NN_WIT_INTERFACES];

export interface NnRunOptions {
  memoryBytes: number;
  datasetsDir?: string;
  datasets?: { name: string; hash: string }[];
  /** A line for the run's log (the guest's stderr stream). */
  log(line: string): void;
  /** Throws to stop the run (the host interrupted it): checked before each call into ONNX Runtime. */
  checkInterrupt(): void;
  /** The engine's view of "inside ONNX Runtime" (native-guard.ts); the Worker is terminated only outside. */
  busy?: SharedArrayBuffer;
}

/** At most this many error lines per run: a guest failing in a loop does not flood the log. */
const MAX_LOGGED_ERRORS = 100;

export function createNn(o: NnRunOptions) {
  const backend = new NnBackend({
    limits: nnLimitsFor(o.memoryBytes),
    models: { datasetsDir: o.datasetsDir, datasets: o.datasets },
    beforeCompute: o.checkInterrupt,
    guard: new NativeGuard(o.busy && new Int32Array(o.busy), o.checkInterrupt),
  });
  let memory: WebAssembly.Memory | undefined;
  let logged = 0;
  const onError = (func: string, code: NnErrorCode, message: string) => {
    if (logged++ < MAX_LOGGED_ERRORS) o.log(`wasi-nn ${func}: ${code}: ${message}`);
  };
  const preview1 = preview1Imports({ backend, memory: () => memory, onError });
  const core = preview1CoreImports(preview1);
  const imports: Record<string, unknown> = {
    [NN_PREVIEW1_INTERFACE]: preview1,
    ...componentImports({ backend, onError }),
  };
  const usesPreview1 = (module: WebAssembly.Module) =>
    WebAssembly.Module.imports(module).some((i) => i.module === NN_PREVIEW1_CORE_MODULE);
  return {
    imports,
    /** Core imports to add when instantiating `module`: the preview-1 functions, bound directly. */
    coreImports(module: WebAssembly.Module): Record<string, Record<string, unknown>> {
      return usesPreview1(module) ? { [NN_PREVIEW1_CORE_MODULE]: core } : {};
    },
    /** Every core instance: the one importing the preview-1 interface owns the memory its pointers address. */
    observe(module: WebAssembly.Module, instance: WebAssembly.Instance): void {
      if (usesPreview1(module)) memory = instance.exports.memory as WebAssembly.Memory;
    },
    close: () => backend.close(),
  };
}
