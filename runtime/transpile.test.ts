import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TranspileCache, checkWorld, type TranspiledComponent } from "./transpile.ts";
import { detectWasmKind } from "./load.ts";
import { AlgorithmError } from "./types.ts";

const dir = mkdtempSync(join(tmpdir(), "cocos-transpile-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fake(hash: string, size: number): TranspiledComponent {
  return {
    hash,
    componentHash: hash,
    sourceKind: "component",
    entry: "run",
    jsName: "component.js",
    files: { "component.js": new TextEncoder().encode("export {}"), "component.core.wasm": new Uint8Array(size) },
    heapFix: null,
    imports: ["wasi:cli/stdout"],
    exports: [["wasi:cli/run@0.2.12", "instance"]],
    adaptMs: 0,
    transpileMs: 1,
  };
}
const h = (c: string) => c.repeat(64);

describe("TranspileCache", () => {
  test("LRU by entries and bytes", async () => {
    const c = new TranspileCache({ maxEntries: 2, maxBytes: 1000 });
    await c.set(fake(h("a"), 10));
    await c.set(fake(h("b"), 10));
    expect(await c.get(h("a"))).toBeDefined(); // a is now most recent
    await c.set(fake(h("c"), 10));
    expect(await c.get(h("b"))).toBeUndefined();
    expect(await c.get(h("a"))).toBeDefined();
    await c.set(fake(h("d"), 2000)); // over the byte budget: everything older goes
    expect(await c.get(h("a"))).toBeUndefined();
    expect(await c.get(h("d"))).toBeDefined();
  });

  test("directory cache survives a new instance and ignores non-hash keys", async () => {
    const a = new TranspileCache({ dir });
    await a.set(fake(h("e"), 33));
    const b = new TranspileCache({ dir });
    const got = await b.get(h("e"));
    expect(got?.files["component.core.wasm"]?.length).toBe(33);
    expect(got?.exports).toEqual([["wasi:cli/run@0.2.12", "instance"]]);
    expect(await b.get("../../etc")).toBeUndefined();
    expect(readdirSync(dir).some((n) => n.includes(".tmp-"))).toBe(false);
  });
});

describe("world checks", () => {
  test("missing imports are named; unknown entry points are refused", () => {
    expect(checkWorld(["wasi:cli/stdout@0.2.3"], [["wasi:cli/run@0.2.3", "instance"]])).toBe("run");
    expect(checkWorld(["cocos:computation/datasets"], [["infer", "function"]])).toBe("infer");
    expect(() => checkWorld(["wasi:http/outgoing-handler"], [["wasi:cli/run", "instance"]])).toThrow(
      /imports wasi:http\/outgoing-handler/,
    );
    expect(() => checkWorld([], [["compute", "function"]])).toThrow(/exports compute; expected wasi:cli\/run/);
  });

  test("header detection", () => {
    expect(detectWasmKind(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))).toBe("preview1");
    expect(detectWasmKind(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]))).toBe("component");
    expect(() => detectWasmKind(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]))).toThrow(AlgorithmError);
    expect(() => detectWasmKind(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]))).toThrow(/unsupported WebAssembly version\/layer 02 00 00 00/);
  });
});
