import { describe, expect, test } from "bun:test";
import { parse } from "@bytecodealliance/jco-transpile/wasm-tools";
import { FUEL_PER_CHECK, INTERRUPT_MODULE, INTERRUPT_NAME, MEMORY_SIZE_NAME, instrumentLoops } from "./instrument.ts";
import { capMemories, coreImports, definedMemories, renameImports } from "./binary.ts";

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

  test("the count carries through calls and every way out of a function", async () => {
    // Each inner function runs its loop header k times and leaves by end, return, or br to its label;
    // outer runs its own header n times, calling inner(8) directly or through the table each time.
    // The loops with SIMD instructions get the wrapped check, the others the inline one.
    const wat = `(module
      (table 3 funcref)
      (elem (i32.const 0) $byEnd $byReturn $byBr)
      (type $k (func (param i32)))
      (func $byEnd (param $k i32)
        (loop $l (local.set $k (i32.sub (local.get $k) (i32.const 1))) (br_if $l (local.get $k))))
      (func $byReturn (param $k i32)
        (loop $l (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (if (i32.eqz (local.get $k)) (then (return))) (br $l)))
      (func $byBr (param $k i32)
        (loop $l (drop (i32x4.splat (local.get $k))) (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br_if 1 (i32.eqz (local.get $k))) (br $l)))
      (func (export "direct") (param $n i32)
        (loop $o (call $byEnd (i32.const 8)) (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $o (local.get $n))))
      (func (export "indirect") (param $n i32) (param $f i32)
        (loop $o (call_indirect (type $k) (i32.const 8) (local.get $f)) (drop (i32x4.splat (local.get $n)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $o (local.get $n)))))`;
    const out = instrumentLoops(await parse(wat));
    expect(WebAssembly.validate(out)).toBe(true);
    // 9 headers per outer iteration; 9n = 3 * FUEL + 6 back-edges reach the host exactly 3 times.
    const n = Math.ceil((3 * FUEL_PER_CHECK) / 9);
    const checksOf = async (call: (e: { direct(n: number): void; indirect(n: number, f: number): void }) => void) => {
      let checks = 0;
      const { instance } = await WebAssembly.instantiate(out, { [INTERRUPT_MODULE]: { [INTERRUPT_NAME]: () => void checks++ } });
      call(instance.exports as never);
      return checks;
    };
    expect(await checksOf((e) => e.direct(n))).toBe(3);
    for (const f of [0, 1, 2]) expect(await checksOf((e) => e.indirect(n, f))).toBe(3);
  });

  test("wrapped SIMD loops with a result or parameters, nested exits and br_table keep their semantics", async () => {
    const wat = `(module
      (type $acc (func (param i32) (result i32)))
      ;; sum n..1 in two nested loops, left by br_table to a block outside both
      (func (export "sumTable") (param $n i32) (result i32) (local $s i32)
        (block $exit
          (loop $outer
            (loop $inner
              (drop (i32x4.splat (local.get $n)))
              (local.set $s (i32.add (local.get $s) (local.get $n)))
              (local.set $n (i32.sub (local.get $n) (i32.const 1)))
              (br_table $exit $inner (i32.eqz (i32.eqz (local.get $n)))))))
        (local.get $s))
      ;; the same, left by br_if straight to the function's label with the result
      (func (export "sumBr") (param $n i32) (result i32) (local $s i32)
        (loop $outer
          (loop $inner
            (drop (i32x4.splat (local.get $n)))
            (local.set $s (i32.add (local.get $s) (local.get $n)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (drop (br_if 2 (local.get $s) (i32.eqz (local.get $n))))
            (br $inner)))
        (i32.const -1))
      ;; a loop with a result
      (func (export "firstSquareOver") (param $x i32) (result i32) (local $i i32)
        (loop $l (result i32)
          (drop (i32x4.splat (local.get $i)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.le_u (i32.mul (local.get $i) (local.get $i)) (local.get $x)))
          (local.get $i)))
      ;; a loop with a parameter (type-index block type): counts down its operand
      (func (export "down") (param $n i32) (result i32)
        (local.get $n)
        (loop $l (type $acc) (drop (i32x4.splat (local.get $n))) (i32.sub (i32.const 1)) (local.tee $n) (br_if $l (local.get $n)) (i32.const 7) (i32.add)))
      (func (export "spinParam") (i32.const 0) (loop $l (param i32) (br $l (i32.const 1)))))`;
    const out = instrumentLoops(await parse(wat));
    expect(WebAssembly.validate(out)).toBe(true);
    let checks = 0;
    const { instance } = await WebAssembly.instantiate(out, {
      [INTERRUPT_MODULE]: { [INTERRUPT_NAME]: () => { if (++checks >= 2) throw new Error("stop"); } },
    });
    const e = instance.exports as Record<string, (...a: number[]) => number>;
    expect(e.sumTable!(100)).toBe(5050);
    expect(e.sumBr!(100)).toBe(5050);
    expect(e.firstSquareOver!(50)).toBe(8);
    expect(e.down!(5)).toBe(7);
    expect(checks).toBe(0);
    expect(() => e.spinParam!()).toThrow("stop");
    checks = 0;
    expect(() => e.sumTable!(0)).toThrow("stop"); // n wraps below zero: ~4G iterations, stopped
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
