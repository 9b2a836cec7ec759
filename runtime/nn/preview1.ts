// The preview-1 ABI of wasi-nn (module wasi_ephemeral_nn), exactly as wasmtime's
// crates/wasi-nn/witx/wasi-nn.witx lowers it: handles and enums as i32, lists as (ptr, len), the
// tensor record by pointer, results through an out-pointer, an nn_errno (0 = success) returned.
//
// A preview-1 module runs wrapped into a component (runtime/load.ts), so its wasi_ephemeral_nn
// imports are renamed to NN_PREVIEW1_INTERFACE, a WIT interface of the same core signatures
// (embedNnPreview1 below); the host functions read and write the module's own memory.

import { NnError, witxErrno, type NnErrorCode } from "./errors.ts";
import type { NnBackend } from "./backend.ts";
import { WITX_TENSOR_TYPES, type NnTensor } from "./tensor.ts";

const NN_PREVIEW1_MODULE = "wasi_ephemeral_nn";
const PACKAGE = "cocos:wasi-ephemeral-nn@0.1.0";
/** The component-level interface the renamed imports come from (unversioned, as the host keys it). */
export const NN_PREVIEW1_INTERFACE = "cocos:wasi-ephemeral-nn/nn";
/** The core import module of the renamed functions. */
export const NN_PREVIEW1_CORE_MODULE = `cocos:wasi-ephemeral-nn/nn@0.1.0`;
const CORE_MODULE = NN_PREVIEW1_CORE_MODULE;

/** witx name → WIT name; every parameter and result is an i32 in the core ABI. */
const FUNCS: Record<string, { wit: string; params: string[] }> = {
  load: { wit: "load", params: ["builder-ptr", "builder-len", "encoding", "target", "graph-out"] },
  load_by_name: { wit: "load-by-name", params: ["name-ptr", "name-len", "graph-out"] },
  init_execution_context: { wit: "init-execution-context", params: ["graph", "context-out"] },
  set_input: { wit: "set-input", params: ["context", "index", "tensor-ptr"] },
  compute: { wit: "compute", params: ["context"] },
  get_output: { wit: "get-output", params: ["context", "index", "out-ptr", "out-max", "written-out"] },
};

export const NN_PREVIEW1_WIT = `package ${PACKAGE};
interface nn {
${Object.values(FUNCS)
  .map((f) => `  ${f.wit}: func(${f.params.map((p) => `${p}: u32`).join(", ")}) -> u32;`)
  .join("\n")}
}
world preview1-nn { import nn; }
`;

export interface CoreImport {
  module: string;
  name: string;
  kind: string;
}

/** Whether a preview-1 module's import is one of wasi_ephemeral_nn's functions. */
export function isNnPreview1Import(i: CoreImport): boolean {
  return i.module === NN_PREVIEW1_MODULE && i.kind === "func" && i.name in FUNCS;
}

/** renameImports callback: wasi_ephemeral_nn.X → the WIT interface's function. */
export function renameNnPreview1Import(i: CoreImport): { module: string; name: string } | null {
  return isNnPreview1Import(i) ? { module: CORE_MODULE, name: FUNCS[i.name]!.wit } : null;
}

/** The world to embed (componentEmbed) into a module whose imports were renamed. */
export const NN_PREVIEW1_WORLD = "preview1-nn";

const ENCODINGS = ["openvino", "onnx", "tensorflow", "pytorch", "tensorflowlite", "autodetect"];
const TARGETS = ["cpu", "gpu", "tpu"];

/** Guest memory access; the memory is looked up on each call because it can grow (a new buffer). */
class GuestMemory {
  #view?: DataView;
  constructor(private readonly memory: () => WebAssembly.Memory | undefined) {}
  #dv(): DataView {
    const m = this.memory();
    if (!m) throw new NnError("missing-memory", "the module exports no memory");
    if (this.#view?.buffer !== m.buffer) this.#view = new DataView(m.buffer);
    return this.#view;
  }
  bytes(ptr: number, len: number): Uint8Array {
    const dv = this.#dv();
    if (ptr + len > dv.byteLength) {
      throw new NnError("invalid-argument", `buffer [${ptr}, ${ptr + len}) lies outside guest memory (${dv.byteLength} bytes)`);
    }
    return new Uint8Array(dv.buffer, ptr, len);
  }
  u32(ptr: number): number {
    const dv = this.#dv();
    return dv.getUint32(this.#check(dv, ptr, 4), true);
  }
  u8(ptr: number): number {
    const dv = this.#dv();
    return dv.getUint8(this.#check(dv, ptr, 1));
  }
  setU32(ptr: number, v: number): void {
    const dv = this.#dv();
    dv.setUint32(this.#check(dv, ptr, 4), v, true);
  }
  #check(dv: DataView, ptr: number, n: number): number {
    if (ptr + n > dv.byteLength) throw new NnError("invalid-argument", `pointer ${ptr} lies outside guest memory`);
    return ptr;
  }
}

export interface Preview1Options {
  backend: NnBackend;
  memory: () => WebAssembly.Memory | undefined;
  /** An error the guest gets, for the run's log. */
  onError(func: string, code: NnErrorCode, message: string): void;
}

/** The host functions of NN_PREVIEW1_INTERFACE (camelCase, as the generated bindings call them). */
export function preview1Imports(o: Preview1Options): Record<string, (...a: number[]) => number> {
  const mem = new GuestMemory(o.memory);
  const b = o.backend;
  const call = (func: string, body: () => void): number => {
    try {
      body();
      return 0;
    } catch (e) {
      // Anything but an NnError (the host stopping the run, a limit) unwinds the guest.
      if (!(e instanceof NnError)) throw e;
      o.onError(func, e.code, e.message);
      return witxErrno(e.code);
    }
  };
  const str = (ptr: number, len: number) => new TextDecoder("utf-8", { fatal: false }).decode(mem.bytes(ptr, len));
  const tensorAt = (ptr: number): NnTensor => {
    const dimsPtr = mem.u32(ptr);
    const dimsLen = mem.u32(ptr + 4);
    const typeTag = mem.u8(ptr + 8);
    const dataPtr = mem.u32(ptr + 12);
    const dataLen = mem.u32(ptr + 16);
    if (dimsLen > 64) throw new NnError("invalid-argument", `tensor rank ${dimsLen} is over the limit of 64`);
    const dims = Array.from({ length: dimsLen }, (_, i) => mem.u32(dimsPtr + 4 * i));
    const type = WITX_TENSOR_TYPES[typeTag];
    if (!type) throw new NnError("invalid-argument", `tensor type ${typeTag} is not a witx tensor_type (0..${WITX_TENSOR_TYPES.length - 1})`);
    return { dims, type, data: mem.bytes(dataPtr, dataLen) };
  };
  return {
    load: (builderPtr, builderLen, encoding, target, graphOut) =>
      call("load", () => {
        if (builderLen > 16) throw new NnError("invalid-argument", `${builderLen} graph builders; expected 1 for onnx`);
        const builders = Array.from({ length: builderLen }, (_, i) =>
          mem.bytes(mem.u32(builderPtr + 8 * i), mem.u32(builderPtr + 8 * i + 4)),
        );
        const enc = ENCODINGS[encoding];
        const tgt = TARGETS[target];
        if (!enc) throw new NnError("invalid-argument", `graph encoding ${encoding} is not a witx graph_encoding (0..${ENCODINGS.length - 1})`);
        if (!tgt) throw new NnError("invalid-argument", `execution target ${target} is not a witx execution_target (0..2)`);
        mem.setU32(graphOut, b.load(builders, enc, tgt));
      }),
    loadByName: (namePtr, nameLen, graphOut) =>
      call("load_by_name", () => mem.setU32(graphOut, b.loadByName(str(namePtr, nameLen)))),
    initExecutionContext: (graph, ctxOut) =>
      call("init_execution_context", () => mem.setU32(ctxOut, b.initExecutionContext(graph))),
    setInput: (ctx, index, tensorPtr) => call("set_input", () => b.setInput(ctx, index, tensorAt(tensorPtr))),
    compute: (ctx) => call("compute", () => b.compute(ctx)),
    getOutput: (ctx, index, outPtr, outMax, writtenOut) =>
      call("get_output", () => {
        const t = b.getOutput(ctx, index);
        if (t.data.length > outMax) {
          throw new NnError("too-large", `output ${index} is ${t.data.length} bytes; the guest's buffer holds ${outMax}`);
        }
        mem.bytes(outPtr, t.data.length).set(t.data);
        mem.setU32(writtenOut, t.data.length);
      }),
  };
}

const camel = (kebab: string) => kebab.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * The same functions keyed by their core import names, arguments as u32: the module's imports are
 * bound to these directly. jco's trampolines would do the same conversion, but through its task
 * bookkeeping on every call, tens of microseconds a call, more than a small model's inference.
 */
export function preview1CoreImports(fns: Record<string, (...a: number[]) => number>): Record<string, (...a: number[]) => number> {
  const out: Record<string, (...a: number[]) => number> = {};
  for (const f of Object.values(FUNCS)) {
    const fn = fns[camel(f.wit)]!;
    out[f.wit] = (...a: number[]) => fn(...a.map((v) => v >>> 0));
  }
  return out;
}
