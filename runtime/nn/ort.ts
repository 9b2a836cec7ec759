// Loads ONNX Runtime's N-API binding (onnxruntime-node) synchronously, in whatever thread asks:
// the binding's InferenceSession.run is synchronous, which is what a guest's compute call needs.
// The addon and libonnxruntime.so.1 must sit in one directory (the addon's RUNPATH is $ORIGIN):
// COCOS_ORT_DIR, else onnxruntime/ next to the executable (the compiled agent), else node_modules.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Tensor } from "onnxruntime-common";
import { NnError } from "./errors.ts";

export const ORT_ADDON = "onnxruntime_binding.node";
export const ORT_LIBRARY = "libonnxruntime.so.1";

export interface OrtValueMetadata {
  name: string;
  isTensor: boolean;
  symbolicDimensions: string[];
  shape: number[];
  /** ONNX TensorProto.DataType. */
  type: number;
}

export interface OrtSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  readonly inputMetadata: OrtValueMetadata[];
  readonly outputMetadata: OrtValueMetadata[];
  run(feeds: Record<string, Tensor>, fetches: Record<string, null>, options: object): Record<string, Tensor>;
  dispose(): void;
}

interface OrtBinding {
  InferenceSession: new () => OrtSession;
  initOrtOnce(logLevel: number, tensor: typeof Tensor, isMainThread: boolean): void;
}

export type OrtTensor = Tensor;

/** onnxruntime-common's Tensor class, loaded with the binding (not at import: the run Worker
 *  imports this module for every run, wasi-nn or not). */
export function OrtTensorClass(): typeof Tensor {
  return (require("onnxruntime-common") as typeof import("onnxruntime-common")).Tensor;
}

/** Where the addon is looked for, in order. */
function ortDirCandidates(): string[] {
  const dirs: string[] = [];
  if (process.env.COCOS_ORT_DIR) dirs.push(process.env.COCOS_ORT_DIR);
  dirs.push(join(dirname(process.execPath), "onnxruntime"));
  // A compiled binary uses its own copy only (it would otherwise resolve from the cwd's node_modules).
  if (import.meta.url.includes("$bunfs")) return dirs;
  try {
    // Computed, so `bun build --compile` does not bake the build machine's node_modules path in.
    const pkg = require.resolve(["onnxruntime-node", "package.json"].join("/"));
    dirs.push(join(dirname(pkg), "bin", "napi-v6", process.platform, process.arch));
  } catch {
    // not installed (compiled binary): the other places only
  }
  return dirs;
}

let binding: OrtBinding | undefined;
let failure: string | undefined;

/** The binding, initialised once per thread; NnError(unsupported-operation) when it is absent. */
export function ortBinding(): OrtBinding {
  if (binding) return binding;
  if (failure) throw new NnError("unsupported-operation", failure);
  const dirs = ortDirCandidates();
  const dir = dirs.find((d) => existsSync(join(d, ORT_ADDON)) && existsSync(join(d, ORT_LIBRARY)));
  if (!dir) {
    failure = `ONNX Runtime is not available: expected ${ORT_ADDON} and ${ORT_LIBRARY} in one of ${dirs.join(", ")}`;
    throw new NnError("unsupported-operation", failure);
  }
  try {
    const b = require(join(dir, ORT_ADDON)) as OrtBinding;
    const { isMainThread } = require("node:worker_threads") as typeof import("node:worker_threads");
    b.initOrtOnce(3 /* error */, OrtTensorClass(), isMainThread);
    binding = b;
    return b;
  } catch (e) {
    failure = `ONNX Runtime failed to load from ${dir}: ${e instanceof Error ? e.message : String(e)}`;
    throw new NnError("unsupported-operation", failure);
  }
}
