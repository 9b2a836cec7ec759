// Messages between the main thread and runtime/wasm-worker.ts.

import type { PreopenSpec } from "./wasi/filesystem.ts";
import type { TranspiledComponent } from "./transpile.ts";
import type { LimitKind } from "./types.ts";

export interface DatasetEntry {
  name: string;
  hash: string;
  size: number;
}

export interface RunRequest {
  type: "run";
  component: TranspiledComponent;
  /** argv as the guest sees it, argv[0] included. */
  argv: string[];
  env: [string, string][];
  preopens: PreopenSpec[];
  memoryBytes: number;
  maxResultsBytes: number;
  maxStdioBytes: number;
  /** Host directory whose top-level files cocos:computation/datasets lists (hashing on demand)... */
  datasetsDir?: string;
  /** ...unless the manifest's list is given. */
  datasets?: DatasetEntry[];
  /** Where the inference world's answer goes (results.txt). */
  resultsDir?: string;
  /** Core modules already compiled (memory cap applied) by the main thread's module cache. */
  modules?: Record<string, WebAssembly.Module>;
  /** Int32Array view: [0] = interrupt flag, [1..] = open host fds + 1. */
  shared: SharedArrayBuffer;
  /** wasi-nn: [0] = 1 while the Worker is inside ONNX Runtime (runtime/nn/native-guard.ts). */
  nnBusy: SharedArrayBuffer;
}

export interface TranspileRequest {
  type: "transpile";
  id: number;
  bytes: Uint8Array;
  hash: string;
}

/**
 * Sent to the spare run Worker when a component is prepared: it imports the generated JS and warms
 * its instantiate() (no core module is instantiated, no guest code runs), so a run of this hash
 * skips both. The Worker still runs at most one computation.
 */
export interface PreloadRequest {
  type: "preload";
  hash: string;
  js: Uint8Array;
}

export type ToWorker = RunRequest | TranspileRequest | PreloadRequest;

export interface WorkerTimings {
  /** Wall-clock (epoch ms, from timeOrigin + now) when the run message arrived. */
  receivedAt: number;
  /** The generated JS was imported and warmed before the run message arrived (see PreloadRequest). */
  preloaded: boolean;
  importMs: number;
  instantiateMs: number;
  /** Epoch ms just before the guest's entry export was called. */
  enteredAt: number;
}

export type FromWorker =
  | { type: "ready" }
  | { type: "stdio"; stream: "stdout" | "stderr"; data: Uint8Array }
  | { type: "progress"; fraction: number; message: string }
  | { type: "entered"; timings: WorkerTimings }
  | { type: "done"; outcome: WorkerOutcome; timings?: WorkerTimings }
  | { type: "transpiled"; id: number; result?: TranspiledComponent; error?: { algorithm: boolean; message: string } };

export type WorkerOutcome =
  | { kind: "exit"; code: number }
  | { kind: "trap"; message: string }
  | { kind: "limit"; limit: LimitKind; message: string }
  | { kind: "error"; message: string };

export const SHARED_SLOTS = 1 + 1024 + 8;
export const INTERRUPT_SLOT = 0;

export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}
