// A minimal ONNX ModelProto writer for tests: enough protobuf to describe small graphs with
// initializers (field numbers from onnx.proto3), so fixtures need no Python or onnx package.
import { concatBytes } from "../../wasm/binary.ts";

export const ONNX_FLOAT = 1;
export const ONNX_UINT8 = 2;
export const ONNX_INT32 = 6;
export const ONNX_INT64 = 7;
export const ONNX_FLOAT16 = 10;

type Field = Uint8Array;

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

const int = (field: number, v: number | bigint): Field => concatBytes([varint(field << 3), varint(v)]);
const bytes = (field: number, b: Uint8Array): Field => concatBytes([varint((field << 3) | 2), varint(b.length), b]);
const str = (field: number, s: string): Field => bytes(field, new TextEncoder().encode(s));
const msg = (field: number, parts: Field[]): Field => bytes(field, concatBytes(parts));

export interface ValueInfo {
  name: string;
  elemType: number;
  /** number = fixed dim, string = symbolic. */
  shape: (number | string)[];
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: { name: string; i?: number; f?: number }[];
}

export interface Initializer {
  name: string;
  dims: number[];
  elemType: number;
  raw: Uint8Array;
}

function valueInfo(field: number, v: ValueInfo): Field {
  const dims = v.shape.map((d) => msg(1, [typeof d === "number" ? int(1, d) : str(2, d)]));
  return msg(field, [str(1, v.name), msg(2, [msg(1, [int(1, v.elemType), msg(2, dims)])])]);
}

function node(n: NodeSpec, i: number): Field {
  const attrs = (n.attrs ?? []).map((a) => {
    if (a.f !== undefined) {
      const f = new Uint8Array(new Float32Array([a.f]).buffer);
      return msg(5, [str(1, a.name), concatBytes([varint((2 << 3) | 5), f]), int(20, 1)]);
    }
    return msg(5, [str(1, a.name), int(3, a.i ?? 0), int(20, 2)]);
  });
  return msg(1, [...n.inputs.map((s) => str(1, s)), ...n.outputs.map((s) => str(2, s)), str(3, `n${i}`), str(4, n.op), ...attrs]);
}

function initializer(t: Initializer): Field {
  return msg(5, [...t.dims.map((d) => int(1, d)), int(2, t.elemType), str(8, t.name), bytes(9, t.raw)]);
}

/** ModelProto bytes, IR version 8, default-domain opset 13. */
function onnxModel(g: { nodes: NodeSpec[]; inputs: ValueInfo[]; outputs: ValueInfo[]; initializers?: Initializer[] }): Uint8Array {
  const graph = msg(7, [
    ...g.nodes.map(node),
    str(2, "g"),
    ...(g.initializers ?? []).map(initializer),
    ...g.inputs.map((v) => valueInfo(11, v)),
    ...g.outputs.map((v) => valueInfo(12, v)),
  ]);
  return concatBytes([int(1, 8), str(2, "cocos-test"), graph, msg(8, [str(1, ""), int(2, 13)])]);
}

export const f32 = (v: number[]) => new Uint8Array(new Float32Array(v).buffer);

/** An Iris-shaped classifier: input [N,4] f32 → Gemm(W, b) → Softmax → probabilities [N,3]. */
export function irisShapedModel(extraBytes = 0): Uint8Array {
  const w = Array.from({ length: 12 }, (_, i) => ((i * 7) % 5) - 2);
  const initializers: Initializer[] = [
    { name: "w", dims: [4, 3], elemType: ONNX_FLOAT, raw: f32(w) },
    { name: "b", dims: [3], elemType: ONNX_FLOAT, raw: f32([0.1, 0.2, 0.3]) },
  ];
  // Padding (an unused initializer) makes a model of a chosen size for the size limit.
  if (extraBytes > 0) initializers.push({ name: "pad", dims: [extraBytes], elemType: ONNX_UINT8, raw: new Uint8Array(extraBytes) });
  return onnxModel({
    nodes: [
      { op: "Gemm", inputs: ["input", "w", "b"], outputs: ["logits"] },
      { op: "Softmax", inputs: ["logits"], outputs: ["probabilities"], attrs: [{ name: "axis", i: 1 }] },
    ],
    inputs: [{ name: "input", elemType: ONNX_FLOAT, shape: ["N", 4] }],
    outputs: [{ name: "probabilities", elemType: ONNX_FLOAT, shape: ["N", 3] }],
    initializers,
  });
}

/** y = Identity(x) for one element type and shape. */
export function identityModel(elemType: number, shape: (number | string)[]): Uint8Array {
  return onnxModel({
    nodes: [{ op: "Identity", inputs: ["x"], outputs: ["y"] }],
    inputs: [{ name: "x", elemType, shape }],
    outputs: [{ name: "y", elemType, shape }],
  });
}

/** x [1,1] f32 → a [n,n] matrix multiplied by itself `rounds` times → sum [1,1]: one long compute. */
export function heavyModel(n: number, rounds: number): Uint8Array {
  const nodes: NodeSpec[] = [{ op: "Expand", inputs: ["x", "shape"], outputs: ["m0"] }];
  for (let i = 0; i < rounds; i++) nodes.push({ op: "MatMul", inputs: [`m${i}`, "m0"], outputs: [`m${i + 1}`] });
  nodes.push({ op: "ReduceSum", inputs: [`m${rounds}`], outputs: ["y"] });
  return onnxModel({
    nodes,
    inputs: [{ name: "x", elemType: ONNX_FLOAT, shape: [1, 1] }],
    outputs: [{ name: "y", elemType: ONNX_FLOAT, shape: [1, 1] }],
    initializers: [{ name: "shape", dims: [2], elemType: ONNX_INT64, raw: new Uint8Array(new BigInt64Array([BigInt(n), BigInt(n)]).buffer) }],
  });
}
