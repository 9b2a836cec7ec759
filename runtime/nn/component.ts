// The wasi:nn@0.2.0-rc-2024-10-28 interfaces (tensor, graph, inference, errors) as wasmtime
// defines them (crates/wasi-nn/wit/wasi-nn.wit), in the shape jco's generated bindings call:
// resources are classes, result<T, error> returns T or throws { payload: error }.

import type { NnBackend } from "./backend.ts";
import { NnError, witErrorCode, type NnErrorCode } from "./errors.ts";
import { WIT_TENSOR_TYPES, type ElementType, type NnTensor } from "./tensor.ts";

export const NN_WIT_INTERFACES = ["wasi:nn/tensor", "wasi:nn/graph", "wasi:nn/inference", "wasi:nn/errors"] as const;

const WIT_TYPE_OF: Record<ElementType, string> = Object.fromEntries(
  Object.entries(WIT_TENSOR_TYPES).map(([wit, t]) => [t, wit]),
) as Record<ElementType, string>;

export interface ComponentOptions {
  backend: NnBackend;
  onError(func: string, code: NnErrorCode, message: string): void;
}

export function componentImports(o: ComponentOptions): Record<string, unknown> {
  const b = o.backend;

  class NnErrorResource {
    constructor(
      readonly c: string,
      readonly message: string,
    ) {}
    code(): string {
      return this.c;
    }
    data(): string {
      return this.message;
    }
  }

  class Tensor {
    readonly t: NnTensor;
    constructor(dimensions: ArrayLike<number>, ty: string, data: Uint8Array) {
      const type = WIT_TENSOR_TYPES[ty];
      // The constructor cannot return an error in this WIT: a bad type is a trap, as in wasmtime.
      if (!type) throw new TypeError(`tensor-type ${ty} is unknown`);
      this.t = { dims: Array.from(dimensions), type, data: Uint8Array.from(data) };
    }
    dimensions(): Uint32Array {
      return Uint32Array.from(this.t.dims);
    }
    ty(): string {
      return WIT_TYPE_OF[this.t.type];
    }
    data(): Uint8Array {
      return this.t.data;
    }
  }
  const tensorOf = (t: NnTensor) => {
    const out = Object.create(Tensor.prototype) as Tensor;
    (out as { t: NnTensor }).t = t;
    return out;
  };

  /** Runs body; an NnError becomes the guest's error resource, anything else unwinds the guest. */
  const guarded = <T>(func: string, body: () => T): T => {
    try {
      return body();
    } catch (e) {
      if (!(e instanceof NnError)) throw e;
      o.onError(func, e.code, e.message);
      throw { payload: new NnErrorResource(witErrorCode(e.code), e.message) };
    }
  };

  class GraphExecutionContext {
    constructor(readonly id: number) {}
    compute(inputs: [string, Tensor][]): [string, Tensor][] {
      return guarded("compute", () => {
        for (const [, t] of inputs) if (!(t instanceof Tensor)) throw new NnError("invalid-argument", "input is not a tensor");
        const out = b.computeNamed(this.id, inputs.map(([n, t]) => [n, t.t]));
        return out.map(([n, t]) => [n, tensorOf(t)]);
      });
    }
    [Symbol.dispose](): void {
      b.dropContext(this.id);
    }
  }

  class Graph {
    constructor(readonly id: number) {}
    initExecutionContext(): GraphExecutionContext {
      return guarded("init-execution-context", () => new GraphExecutionContext(b.initExecutionContext(this.id)));
    }
    [Symbol.dispose](): void {
      b.dropGraph(this.id);
    }
  }

  return {
    "wasi:nn/tensor": { Tensor },
    "wasi:nn/errors": { Error: NnErrorResource },
    "wasi:nn/inference": { GraphExecutionContext },
    "wasi:nn/graph": {
      Graph,
      load: (builders: Uint8Array[], encoding: string, target: string) =>
        guarded("load", () => new Graph(b.load(builders, encoding, target))),
      loadByName: (name: string) => guarded("load-by-name", () => new Graph(b.loadByName(name))),
    },
  };
}
