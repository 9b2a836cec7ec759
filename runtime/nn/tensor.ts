// Tensor element types: the guest's names (both ABIs), ONNX data types and ORT's typed arrays.

import { NnError } from "./errors.ts";
import { OrtTensorClass, type OrtTensor } from "./ort.ts";

export type ElementType = "f16" | "f32" | "f64" | "bf16" | "u8" | "i32" | "i64";

/** wasmtime witx $tensor_type (u8) order. */
export const WITX_TENSOR_TYPES: readonly ElementType[] = ["f16", "f32", "f64", "u8", "i32", "i64"];
/** wasi:nn/tensor tensor-type enum cases, in WIT order. */
export const WIT_TENSOR_TYPES: Record<string, ElementType> = {
  FP16: "f16",
  FP32: "f32",
  FP64: "f64",
  BF16: "bf16",
  U8: "u8",
  I32: "i32",
  I64: "i64",
};

interface TypeInfo {
  ort: "float16" | "float32" | "float64" | "uint8" | "int32" | "int64";
  onnx: number;
  bytes: number;
  array: (buf: ArrayBuffer) => ArrayBufferView;
}

const TYPES: Partial<Record<ElementType, TypeInfo>> = {
  f16: { ort: "float16", onnx: 10, bytes: 2, array: (b) => new Uint16Array(b) },
  f32: { ort: "float32", onnx: 1, bytes: 4, array: (b) => new Float32Array(b) },
  f64: { ort: "float64", onnx: 11, bytes: 8, array: (b) => new Float64Array(b) },
  u8: { ort: "uint8", onnx: 2, bytes: 1, array: (b) => new Uint8Array(b) },
  i32: { ort: "int32", onnx: 6, bytes: 4, array: (b) => new Int32Array(b) },
  i64: { ort: "int64", onnx: 7, bytes: 8, array: (b) => new BigInt64Array(b) },
};

/** A tensor as the guest hands it over or gets it back: row-major little-endian bytes. */
export interface NnTensor {
  dims: number[];
  type: ElementType;
  data: Uint8Array;
}

function info(t: ElementType): TypeInfo {
  const i = TYPES[t];
  if (!i) throw new NnError("unsupported-operation", `tensor type ${t} is not supported by the ONNX backend (f16, f32, f64, u8, i32, i64 are)`);
  return i;
}

/** The guest's name of an ONNX data type, or undefined for one it cannot exchange. */
export function elementTypeOfOnnx(onnx: number): ElementType | undefined {
  return (Object.keys(TYPES) as ElementType[]).find((t) => TYPES[t]!.onnx === onnx);
}

function elementBytes(t: ElementType): number {
  return info(t).bytes;
}

/** Checks that data holds exactly prod(dims) elements; returns that byte length. */
export function checkTensorBytes(t: NnTensor): number {
  const elems = t.dims.reduce((n, d) => n * d, 1);
  const want = elems * elementBytes(t.type);
  if (t.data.length !== want) {
    throw new NnError(
      "invalid-argument",
      `tensor data is ${t.data.length} bytes; dimensions [${t.dims.join(", ")}] of ${t.type} need ${want}`,
    );
  }
  return want;
}

/** An ORT tensor over a private, aligned copy of the guest's bytes. */
export function toOrt(t: NnTensor): OrtTensor {
  const i = info(t.type);
  const data = i.array(t.data.slice().buffer);
  const tensor = new (OrtTensorClass())(i.ort, data as never, t.dims);
  // onnxruntime-common re-views f16 bits as a Float16Array where the engine has one, and the
  // N-API binding cannot read that kind of typed array: hand it the Uint16Array of the same bits.
  if (t.type === "f16") (tensor as unknown as { cpuData: ArrayBufferView }).cpuData = data;
  return tensor;
}

export function fromOrt(v: OrtTensor): NnTensor {
  const type = (Object.keys(TYPES) as ElementType[]).find((k) => TYPES[k]!.ort === v.type);
  if (!type) throw new NnError("unsupported-operation", `model output of type ${v.type} cannot be passed to the guest`);
  const d = v.data as ArrayBufferView;
  return { dims: [...v.dims], type, data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
}
