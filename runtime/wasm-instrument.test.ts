import { describe, expect, test } from "bun:test";
import { parse } from "@bytecodealliance/jco-transpile/wasm-tools";
import { FUEL_PER_CHECK, INTERRUPT_MODULE, INTERRUPT_NAME, MEMORY_SIZE_NAME, instrumentLoops } from "./wasm-instrument.ts";
import { capMemories, coreImports, definedMemories, renameImports } from "./wasm-binary.ts";

// Calls, call_indirect through an element segment, ref.func, a start function and a loop: the
// rewrite must renumber all of them after inserting its import.
const WAT = `(module
  (import "env" "log" (func $log (param i32)))
  (memory (export "memory") 1)
  (table 2 funcref)
  (global $started (mut i32) (i32.const 0))
  (global $fref funcref (ref.func $double))
  (elem (i32.const 0) $double $sum)
  (type $un (func (param i32) (result i32)))
  (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func $sum (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $top
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $top)))
    (local.get $acc))
  (func $init (global.set $started (i32.const 1)))
  (func (export "run") (param i32) (result i32)
    (call $log (memory.size))
    (i32.add (call $sum (local.get 0)) (call_indirect (type $un) (i32.const 3) (i32.const 0))))
  (func (export "spin") (loop $l (br $l)))
  (func (export "started") (result i32) (global.get $started))
  (start $init))`;

describe("loop instrumentation", () => {
  test("keeps semantics, renumbers functions, and makes loops call the host", async () => {
    const original = await parse(WAT);
    const out = instrumentLoops(original);
    expect(WebAssembly.validate(out)).toBe(true);
    expect(coreImports(out).map((i) => `${i.module}.${i.name}`)).toEqual(["env.log", `${INTERRUPT_MODULE}.${INTERRUPT_NAME}`]);
    let checks = 0;
    let interrupt = false;
    const logged: number[] = [];
    const { instance } = await WebAssembly.instantiate(out, {
      env: { log: (v: number) => logged.push(v) },
      [INTERRUPT_MODULE]: {
        [INTERRUPT_NAME]: () => {
          checks++;
          if (interrupt) throw new Error("stop");
        },
      },
    });
    const e = instance.exports as { run(n: number): number; spin(): void; started(): number };
    expect(e.started()).toBe(1);
    expect(e.run(100)).toBe(5050 + 6);
    expect(logged).toEqual([1]);
    expect(checks).toBe(0);
    // 3 * FUEL iterations of the summing loop reach the host three times.
    e.run(3 * FUEL_PER_CHECK);
    expect(checks).toBe(3);
    interrupt = true;
    expect(() => e.spin()).toThrow("stop");
  });

  test("hookMemorySize routes memory.size through the host", async () => {
    const out = instrumentLoops(await parse(WAT), { hookMemorySize: true });
    expect(WebAssembly.validate(out)).toBe(true);
    const logged: number[] = [];
    const { instance } = await WebAssembly.instantiate(out, {
      env: { log: (v: number) => logged.push(v) },
      [INTERRUPT_MODULE]: { [INTERRUPT_NAME]: () => {}, [MEMORY_SIZE_NAME]: () => 77 },
    });
    (instance.exports as { run(n: number): number }).run(1);
    expect(logged).toEqual([77]);
  });

  test("a module without loops is returned unchanged", async () => {
    const m = await parse(`(module (func (export "f") (result i32) (i32.const 1)))`);
    expect(instrumentLoops(m)).toBe(m);
  });
});

describe("binary rewrites", () => {
  test("capMemories lowers the maximum so memory.grow fails beyond the cap", async () => {
    const m = await parse(`(module (memory (export "m") 2) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
    const { module, overCap } = capMemories(m, 4 * 65536);
    expect(overCap).toBe(false);
    expect(definedMemories(module)).toEqual([{ minPages: 2, maxPages: 4, memory64: false }]);
    const { instance } = await WebAssembly.instantiate(module);
    const grow = instance.exports.grow as (n: number) => number;
    expect(grow(2)).toBe(2);
    expect(grow(1)).toBe(-1);
    expect(capMemories(m, 65536).overCap).toBe(true);
  });

  test("renameImports changes names and keeps types", async () => {
    const m = await parse(`(module (import "a" "b" (func (param i32))) (import "a" "c" (func)))`);
    const r = renameImports(m, (i) => (i.name === "b" ? { module: "x:y/z", name: "w" } : null));
    expect(WebAssembly.validate(r)).toBe(true);
    expect(coreImports(r).map((i) => `${i.module}.${i.name}`)).toEqual(["x:y/z.w", "a.c"]);
  });
});
