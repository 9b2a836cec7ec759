import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NnBackend, nnLimitsFor } from "./backend.ts";
import { NnError, witxErrno } from "./errors.ts";
import type { ElementType } from "./tensor.ts";
import { ONNX_FLOAT, ONNX_FLOAT16, ONNX_INT32, ONNX_INT64, ONNX_UINT8, f32, identityModel, irisShapedModel } from "./testdata/onnx-model.ts";

const dir = mkdtempSync(join(tmpdir(), "cocos-nn-backend-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha3 = (b: Uint8Array) => new Bun.CryptoHasher("sha3-256").update(b).digest("hex");

function backend(models: Record<string, Uint8Array> = {}, listed = true) {
  for (const [n, b] of Object.entries(models)) writeFileSync(join(dir, n), b);
  return new NnBackend({
    limits: nnLimitsFor(64 * 1024 ** 2),
    models: { datasetsDir: dir, datasets: listed ? Object.entries(models).map(([name, b]) => ({ name, hash: sha3(b) })) : undefined },
  });
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof NnError) return e.code;
    throw e;
  }
  return "ok";
}

describe("wasi-nn backend (ONNX Runtime)", () => {
  const iris = irisShapedModel();

  test("loads by name, computes, returns the outputs", () => {
    const b = backend({ "model.onnx": iris });
    const ctx = b.initExecutionContext(b.loadByName("/datasets/model.onnx"));
    b.setInput(ctx, 0, { dims: [1, 4], type: "f32", data: f32([7, 3.2, 4.7, 1.4]) });
    b.compute(ctx);
    const out = b.getOutput(ctx, 0);
    expect(out.dims).toEqual([1, 3]);
    const p = new Float32Array(out.data.slice().buffer);
    expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
    b.close();
  });

  const types: [ElementType, number, Uint8Array][] = [
    ["f32", ONNX_FLOAT, f32([1.5, -2])],
    ["f16", ONNX_FLOAT16, new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer)],
    ["u8", ONNX_UINT8, new Uint8Array([7, 255])],
    ["i32", ONNX_INT32, new Uint8Array(new Int32Array([-5, 1 << 30]).buffer)],
    ["i64", ONNX_INT64, new Uint8Array(new BigInt64Array([-(1n << 40n), 3n]).buffer)],
  ];
  for (const [type, onnx, data] of types) {
    test(`${type} tensors pass through unchanged`, () => {
      const b = backend({ [`id-${type}.onnx`]: identityModel(onnx, [2]) });
      const ctx = b.initExecutionContext(b.loadByName(`id-${type}.onnx`));
      b.setInput(ctx, "x", { dims: [2], type, data });
      b.compute(ctx);
      const out = b.getOutput(ctx, "y");
      expect(out.type).toBe(type);
      expect([...out.data]).toEqual([...data]);
      b.close();
    });
  }

  test("bf16 is refused as unsupported, not crashed on", () => {
    const b = backend({ "id.onnx": identityModel(ONNX_FLOAT, [2]) });
    const ctx = b.initExecutionContext(b.loadByName("id.onnx"));
    expect(code(() => b.setInput(ctx, 0, { dims: [2], type: "bf16", data: new Uint8Array(4) }))).toBe("unsupported-operation");
  });

  // adversary: the algorithm tries to load a model that is not one of the computation's datasets.
  test("models load only from the listed, hash-matching datasets", () => {
    const b = backend({ "model.onnx": iris });
    expect(code(() => b.loadByName("../model.onnx"))).toBe("not-found");
    expect(code(() => b.loadByName("/etc/passwd"))).toBe("not-found");
    writeFileSync(join(dir, "unlisted.onnx"), iris);
    expect(code(() => b.loadByName("unlisted.onnx"))).toBe("not-found");
  });

  // adversary: the host swaps a dataset after its upload was verified.
  test("a model whose bytes differ from the manifest hash is refused (security)", () => {
    const b = backend({ "model.onnx": iris });
    writeFileSync(join(dir, "model.onnx"), irisShapedModel(16));
    let err: NnError | undefined;
    try {
      b.loadByName("model.onnx");
    } catch (e) {
      err = e as NnError;
    }
    expect(err?.code).toBe("security");
    expect(err?.message).toContain("does not match the manifest");
  });

  // adversary: the algorithm probing for the host's layout through error messages.
  test("a missing model's error names the dataset, not the host directory", () => {
    const b = backend({}, false);
    let msg = "";
    try {
      b.loadByName("absent.onnx");
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toBe('dataset "absent.onnx" cannot be opened (ENOENT)');
  });

  // adversary: a symlink in the datasets directory pointing elsewhere.
  test("a symlinked dataset is not followed", () => {
    symlinkSync("/etc/hostname", join(dir, "link.onnx"));
    const b = backend({}, false);
    expect(code(() => b.loadByName("link.onnx"))).toBe("not-found");
  });

  test("limits: model size, graphs, contexts, tensor bytes", () => {
    const b = new NnBackend({
      limits: { maxModelBytes: 2000, maxGraphs: 2, maxContexts: 3, maxTensorBytes: 32 },
      models: { datasetsDir: dir },
    });
    writeFileSync(join(dir, "big.onnx"), irisShapedModel(4000));
    writeFileSync(join(dir, "small.onnx"), iris);
    expect(code(() => b.loadByName("big.onnx"))).toBe("too-large");
    expect(code(() => b.load([irisShapedModel(4000)], "onnx", "cpu"))).toBe("too-large");
    const g = b.loadByName("small.onnx");
    b.loadByName("small.onnx");
    expect(code(() => b.loadByName("small.onnx"))).toBe("too-large");
    for (let i = 0; i < 3; i++) b.initExecutionContext(g);
    expect(code(() => b.initExecutionContext(g))).toBe("too-large");
    b.close();
    const c = b.initExecutionContext(b.loadByName("small.onnx"));
    expect(code(() => b.setInput(c, 0, { dims: [3, 4], type: "f32", data: new Uint8Array(48) }))).toBe("too-large");
  });

  test("not ONNX, truncated, wrong encoding or target: wasi-nn errors with their witx numbers", () => {
    const b = backend();
    expect(code(() => b.load([new TextEncoder().encode("Id,SepalLengthCm\n1,5.1\n")], "onnx", "cpu"))).toBe("invalid-encoding");
    expect(code(() => b.load([iris.subarray(0, iris.length - 30)], "onnx", "cpu"))).toBe("invalid-encoding");
    expect(code(() => b.load([iris], "tensorflow", "cpu"))).toBe("invalid-encoding");
    expect(code(() => b.load([iris], "onnx", "gpu"))).toBe("unsupported-operation");
    expect(code(() => b.load([iris, iris], "onnx", "cpu"))).toBe("invalid-argument");
    expect([witxErrno("invalid-argument"), witxErrno("invalid-encoding"), witxErrno("too-large"), witxErrno("not-found")]).toEqual([1, 2, 7, 8]);
  });
});
