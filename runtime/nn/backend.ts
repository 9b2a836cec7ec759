// The wasi-nn backend of one run: ONNX Runtime sessions for graphs, execution contexts holding
// inputs and outputs, and the run's bounds on models, tensors, graphs and contexts. Every failure is
// an NnError; nothing here throws anything else at the ABI layers.

import { NnError, asNnError } from "./errors.ts";
import { readModel, type ModelSource } from "./models.ts";
import { ortBinding, type OrtSession, type OrtTensor, type OrtValueMetadata } from "./ort.ts";
import { NativeGuard } from "./native-guard.ts";
import { checkTensorBytes, elementTypeOfOnnx, fromOrt, toOrt, type NnTensor } from "./tensor.ts";

export interface NnLimits {
  /** Largest model (bytes) a graph may load. */
  maxModelBytes: number;
  /** Graphs and execution contexts alive at once in a run. */
  maxGraphs: number;
  maxContexts: number;
  /** Bytes of one context's inputs, and of its outputs, after a compute. */
  maxTensorBytes: number;
}

/** The bounds follow the run's memory cap: host-side models and tensors get no more than the guest. */
export function nnLimitsFor(memoryBytes: number): NnLimits {
  return {
    maxModelBytes: Math.min(memoryBytes, 1024 ** 3),
    maxGraphs: 8,
    maxContexts: 64,
    maxTensorBytes: Math.min(memoryBytes, 1024 ** 3),
  };
}

/** Same for every run and for the benchmark's direct calls: one thread, so runs do not compete. */
export const SESSION_OPTIONS = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
} as const;

interface Graph {
  session: OrtSession;
  inputs: OrtValueMetadata[];
  outputs: OrtValueMetadata[];
  /** Every output, as session.run wants them named. */
  fetches: Record<string, null>;
}

interface Context {
  graph: Graph;
  inputs: Map<string, OrtTensor>;
  inputBytes: number;
  outputs?: Record<string, OrtTensor>;
}

export interface BackendOptions {
  limits: NnLimits;
  models: ModelSource;
  /** Called before each inference: throws (not an NnError) to stop a run the host has stopped. */
  beforeCompute?: () => void;
  /** Brackets every call into the addon (see native-guard.ts); none outside a run Worker. */
  guard?: NativeGuard;
}

const describeIo = (list: OrtValueMetadata[]) => list.map((m, i) => `${i}: ${m.name}`).join(", ") || "none";

export class NnBackend {
  #graphs = new Map<number, Graph>();
  #contexts = new Map<number, Context>();
  #next = 1;

  readonly #guard: NativeGuard;

  constructor(readonly opts: BackendOptions) {
    this.#guard = opts.guard ?? new NativeGuard(undefined, () => {});
  }

  load(builders: Uint8Array[], encoding: string, target: string): number {
    if (encoding !== "onnx" && encoding !== "autodetect") {
      throw new NnError("invalid-encoding", `graph encoding ${encoding} is not supported: this host serves onnx only`);
    }
    this.#checkTarget(target);
    if (builders.length !== 1) {
      throw new NnError("invalid-argument", `an onnx graph is one builder (the model bytes), got ${builders.length}`);
    }
    const model = builders[0]!;
    if (model.length > this.opts.limits.maxModelBytes) {
      throw new NnError("too-large", `model is ${model.length} bytes; the limit of this run is ${this.opts.limits.maxModelBytes}`);
    }
    return this.#addGraph(model);
  }

  loadByName(name: string): number {
    this.#checkRoom(this.#graphs.size, this.opts.limits.maxGraphs, "graphs");
    return this.#addGraph(readModel(name, this.opts.models, this.opts.limits.maxModelBytes));
  }

  initExecutionContext(graph: number): number {
    const g = this.#graph(graph);
    this.#checkRoom(this.#contexts.size, this.opts.limits.maxContexts, "execution contexts");
    const id = this.#next++;
    this.#contexts.set(id, { graph: g, inputs: new Map(), inputBytes: 0 });
    return id;
  }

  setInput(ctx: number, key: number | string, t: NnTensor): void {
    const c = this.#context(ctx);
    const meta = this.#io(c.graph.inputs, key, "input");
    const bytes = checkTensorBytes(t);
    const want = elementTypeOfOnnx(meta.type);
    if (!meta.isTensor || !want) throw new NnError("unsupported-operation", `input ${meta.name} is not a tensor of a supported type`);
    if (want !== t.type) throw new NnError("invalid-argument", `input ${meta.name} expects ${want} elements, got ${t.type}`);
    const shapeOk = meta.shape.length === t.dims.length && meta.shape.every((d, i) => d < 0 || d === t.dims[i]);
    if (!shapeOk) {
      const shape = meta.shape.map((d, i) => (d < 0 ? meta.symbolicDimensions[i] || "?" : d)).join(", ");
      throw new NnError("invalid-argument", `input ${meta.name} expects shape [${shape}], got [${t.dims.join(", ")}]`);
    }
    const prev = c.inputs.get(meta.name);
    const total = c.inputBytes - (prev ? byteLength(prev) : 0) + bytes;
    if (total > this.opts.limits.maxTensorBytes) {
      throw new NnError("too-large", `inputs would take ${total} bytes; the limit of this run is ${this.opts.limits.maxTensorBytes}`);
    }
    c.inputs.set(meta.name, toOrt(t));
    c.inputBytes = total;
    c.outputs = undefined;
  }

  compute(ctx: number): void {
    const c = this.#context(ctx);
    const missing = c.graph.inputs.filter((m) => !c.inputs.has(m.name));
    if (missing.length > 0) {
      throw new NnError("invalid-argument", `compute before set_input: input(s) ${describeIo(missing)} not set`);
    }
    this.opts.beforeCompute?.();
    const feeds = Object.fromEntries(c.inputs);
    // The guard's interrupt check throws through (the run is over); ORT's own errors become NnErrors.
    const out = this.#guard.run(() => {
      try {
        return c.graph.session.run(feeds, c.graph.fetches, {});
      } catch (e) {
        return new NnError("runtime-error", `inference failed: ${(e as Error).message}`);
      }
    });
    if (out instanceof NnError) throw out;
    const bytes = Object.values(out).reduce((n, v) => n + byteLength(v), 0);
    if (bytes > this.opts.limits.maxTensorBytes) {
      throw new NnError("too-large", `outputs take ${bytes} bytes; the limit of this run is ${this.opts.limits.maxTensorBytes}`);
    }
    c.outputs = out;
  }

  getOutput(ctx: number, key: number | string): NnTensor {
    const c = this.#context(ctx);
    const meta = this.#io(c.graph.outputs, key, "output");
    if (!c.outputs) throw new NnError("invalid-argument", `get_output before compute: output ${meta.name} has no value yet`);
    return fromOrt(c.outputs[meta.name]!);
  }

  /** wasi:nn inference.compute: named inputs in, every output out. */
  computeNamed(ctx: number, inputs: [string, NnTensor][]): [string, NnTensor][] {
    for (const [name, t] of inputs) this.setInput(ctx, name, t);
    this.compute(ctx);
    return this.#context(ctx).graph.outputs.map((m) => [m.name, this.getOutput(ctx, m.name)]);
  }

  dropGraph(graph: number): void {
    const g = this.#graphs.get(graph);
    if (!g) return;
    this.#graphs.delete(graph);
    // Contexts keep the session alive; it is released with the last of them.
    if (![...this.#contexts.values()].some((c) => c.graph === g)) this.#dispose(g);
  }

  dropContext(ctx: number): void {
    const c = this.#contexts.get(ctx);
    this.#contexts.delete(ctx);
    if (c && ![...this.#graphs.values()].includes(c.graph) && ![...this.#contexts.values()].some((o) => o.graph === c.graph)) {
      this.#dispose(c.graph);
    }
  }

  /** Frees every session (end of run). */
  close(): void {
    const sessions = new Set([...this.#graphs.values(), ...[...this.#contexts.values()].map((c) => c.graph)]);
    this.#graphs.clear();
    this.#contexts.clear();
    for (const g of sessions) this.#dispose(g);
  }

  #dispose(g: Graph): void {
    this.#guard.run(() => g.session.dispose());
  }

  #checkTarget(target: string): void {
    if (target !== "cpu") throw new NnError("unsupported-operation", `execution target ${target} is not available: this host runs on cpu only`);
  }

  #checkRoom(have: number, max: number, what: string): void {
    if (have >= max) throw new NnError("too-large", `limit of ${max} ${what} per run reached`);
  }

  #addGraph(model: Uint8Array): number {
    this.#checkRoom(this.#graphs.size, this.opts.limits.maxGraphs, "graphs");
    const session = this.#guard.run(() => {
      const binding = ortBinding();
      const session = new binding.InferenceSession();
      try {
        // ORT reads the buffer during loadModel only; a private copy keeps guest memory out of it.
        const copy = model.slice();
        session.loadModel(copy.buffer, 0, copy.byteLength, SESSION_OPTIONS);
        return session;
      } catch (e) {
        return new NnError("invalid-encoding", `not a loadable ONNX model (${model.length} bytes): ${asNnError(e).message}`);
      }
    });
    if (session instanceof NnError) throw session;
    const id = this.#next++;
    const outputs = session.outputMetadata;
    const fetches = Object.fromEntries(outputs.map((m) => [m.name, null]));
    this.#graphs.set(id, { session, inputs: session.inputMetadata, outputs, fetches });
    return id;
  }

  #graph(id: number): Graph {
    const g = this.#graphs.get(id);
    if (!g) throw new NnError("invalid-argument", `graph handle ${id} does not exist`);
    return g;
  }

  #context(id: number): Context {
    const c = this.#contexts.get(id);
    if (!c) throw new NnError("invalid-argument", `execution context handle ${id} does not exist`);
    return c;
  }

  #io(list: OrtValueMetadata[], key: number | string, kind: "input" | "output"): OrtValueMetadata {
    const meta = typeof key === "number" ? list[key] : list.find((m) => m.name === key);
    if (!meta) {
      throw new NnError("invalid-argument", `${kind} ${typeof key === "number" ? `index ${key}` : JSON.stringify(key)} does not exist: the model's ${kind}s are ${describeIo(list)}`);
    }
    return meta;
  }
}

function byteLength(t: OrtTensor): number {
  return (t.data as ArrayBufferView).byteLength;
}
