// Makes every loop of a core module interruptible.
//
// JavaScriptCore does not preempt a Wasm loop that never calls out (worker.terminate() leaves the
// thread spinning; oven-sh/bun#36356), so a guest `for(;;);` would survive its timeout. Each loop
// header counts down a fuel counter; when it reaches zero the loop calls an imported host function,
// which is a point where the engine delivers termination and where the host checks its interrupt
// flag. The counter is one global for the whole module, but a function with loops keeps it in a
// new local (a register, where a global costs a load and a store per iteration: up to +80 % on a
// tight loop): loaded at entry and after each call, stored before each call and exit. So a callee
// continues the caller's count and no call pattern resets it. Adding the import shifts every
// defined function index by one, so calls, ref.func, exports, start and element segments are
// renumbered; the name section is dropped.

import { Reader, WasmFormatError, concatBytes, encodeName, encodeU32, sections, type Section } from "./binary.ts";

export const INTERRUPT_MODULE = "cocos:runtime";
export const INTERRUPT_NAME = "interrupt-check";
/** Replaces `memory.size` in a preview-1 main module; see `fixHeapStart` below. */
export const MEMORY_SIZE_NAME = "memory-size";
/** Loop iterations between host checks: a JS call every ~1M back-edges costs well under 1 %. */
export const FUEL_PER_CHECK = 1 << 20;

const S = { custom: 0, type: 1, import: 2, func: 3, table: 4, memory: 5, global: 6, export: 7, start: 8, elem: 9, code: 10, data: 11, datacount: 12, tag: 13 };
// Canonical section order (tag sits between memory and global).
const ORDER = [S.type, S.import, S.func, S.table, S.memory, S.tag, S.global, S.export, S.start, S.elem, S.datacount, S.code, S.data];

function skipLeb(r: Reader): void {
  for (let i = 0; i < 10; i++) if ((r.byte() & 0x80) === 0) return;
  throw new WasmFormatError(`malformed LEB128 at offset ${r.pos}`);
}

function skipBlockType(r: Reader): void {
  const b = r.bytes[r.pos];
  if (b === undefined) throw new WasmFormatError("unexpected end of code");
  if (b === 0x40 || (b >= 0x6f && b <= 0x7f) || b === 0x70) {
    r.pos++;
  } else if (b === 0x63 || b === 0x64) {
    r.pos++;
    skipLeb(r); // heap type
  } else {
    skipLeb(r); // s33 type index
  }
}

function skipMemarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32(); // multi-memory index
  skipLeb(r); // offset (u32 or u64)
}

/** Output that keeps unchanged spans as views instead of copying byte by byte. */
class Out {
  chunks: Uint8Array[] = [];
  length = 0;
  push(...bytes: number[]): void {
    if (bytes.length === 0) return;
    this.chunks.push(Uint8Array.from(bytes));
    this.length += bytes.length;
  }
  span(src: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    this.chunks.push(src.subarray(from, to));
    this.length += to - from;
  }
  append(o: Out): void {
    this.chunks.push(...o.chunks);
    this.length += o.length;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let p = 0;
    for (const c of this.chunks) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  }
}

interface Rewriter {
  /** Function indices >= this move up by `shiftBy`. */
  shiftFrom: number;
  shiftBy: number;
  /** Loop-header checks; null for constant expressions and uninstrumented bodies. */
  fuel: FuelCode | null;
  /** Replacement for `memory.size 0`, or null to keep it. */
  memorySize: number[] | null;
  /** Set when a loop was met. */
  sawLoop?: boolean;
  /** Filled by a scan: offsets of the loops that contain SIMD instructions (the ones wrapped). */
  simdLoops?: Set<number>;
  /** Offsets of the loops to wrap; the others get the inline check. */
  wrapLoops?: Set<number>;
}

interface FuelCode {
  /** fuel -= 1; if fuel == 0 { interrupt(); fuel = N } — for loops that cannot be wrapped. */
  check: number[];
  /** fuel -= 1; br_if 1 (fuel == 0) — leaves the loop for the refill in its wrapper. */
  exitCheck: number[];
  /** interrupt(); fuel = N */
  refill: number[];
  /** Store the fuel local to the global (before calls and exits) and reload it (after calls). */
  spill: number[];
  reload: number[];
}

/** Labels each wrapped loop adds around itself ($done, $retry, $need in rewriteExpr). */
const WRAP_LABELS = 3;

/**
 * Copies the expression from r.pos to `end` (or to the `end` closing depth 0 when `end` is null),
 * renumbering function indices and making every loop count down the fuel.
 *
 * A SIMD loop whose body holds the host call, even on a path never taken, runs up to 2x slower in
 * JSC's optimising tier (a vector value live across a call lives in memory: x86-64 has no
 * callee-saved vector registers), so a loop that contains SIMD instructions and has no parameters
 * becomes
 *
 *   block $done (result of the loop)        loop $retry        block $need
 *     loop $l  fuel -= 1; br_if $need (fuel == 0)  ...body...  end
 *     br $done
 *   end  interrupt(); fuel = N; br $retry  end  unreachable  end
 *
 * and branches in the body that leave such loops count the three new labels. Other loops keep
 * the check inline: for scalar loops with many values live in, the wrapper measured slower
 * (kmeans +40 % against +20 % inline; matmul, SIMD, +5 % wrapped against +70 % inline).
 */
function rewriteExpr(r: Reader, end: number | null, rw: Rewriter, out: Out): void {
  /** Open blocks, innermost last: true for a wrapped loop. */
  const stack: boolean[] = [];
  /** Offsets of the open loops and their stack depth + 1, innermost last. */
  const loopStarts: number[] = [];
  const openLoops: number[] = [];
  const fuel = rw.fuel;
  let copyFrom = r.pos;
  const flush = (to: number) => out.span(r.bytes, copyFrom, to);
  /** Inserts `bytes` before the instruction that starts at `at` (its immediates not yet copied). */
  const insertAt = (at: number, bytes: number[] | null) => {
    if (!bytes) return;
    flush(at);
    out.push(...bytes);
    copyFrom = at;
  };
  /** Inserts `bytes` at r.pos (after the current instruction). */
  const insertHere = (bytes: number[] | null) => {
    if (!bytes) return;
    flush(r.pos);
    out.push(...bytes);
    copyFrom = r.pos;
  };
  /** Reads a label immediate and rewrites it to count the wrappers crossed; returns the original. */
  const label = () => {
    const start = r.pos;
    const l = r.u32();
    let extra = 0;
    for (let i = 0; i < l && i < stack.length; i++) if (stack[stack.length - 1 - i]) extra += WRAP_LABELS;
    if (extra > 0) {
      flush(start);
      out.push(...encodeU32(l + extra));
      copyFrom = r.pos;
    }
    return l;
  };
  const funcIndex = (start: number) => {
    const idx = r.u32();
    if (idx >= rw.shiftFrom) {
      flush(start);
      out.push(...encodeU32(idx + rw.shiftBy));
      copyFrom = r.pos;
    }
  };
  while (end === null ? true : r.pos < end) {
    const at = r.pos;
    const op = r.byte();
    switch (op) {
      case 0x02: case 0x04: case 0x06: // block, if, try
        skipBlockType(r);
        stack.push(false);
        break;
      case 0x03: { // loop
        const bt = r.bytes[r.pos] ?? 0;
        skipBlockType(r);
        rw.sawLoop = true;
        loopStarts.push(at);
        openLoops.push(stack.length + 1);
        if (!fuel) {
          stack.push(false);
          break;
        }
        // A single-byte or reference block type has no parameters; a type index may have some.
        const wrap = !!rw.wrapLoops?.has(at) && ((bt >= 0x40 && bt <= 0x7f) || bt === 0x63 || bt === 0x64);
        stack.push(wrap);
        if (!wrap) {
          insertHere(fuel.check);
          break;
        }
        flush(at);
        out.push(0x02);
        out.span(r.bytes, at + 1, r.pos); // $done has the loop's results
        out.push(0x03, 0x40, 0x02, 0x40);
        copyFrom = at;
        insertHere(fuel.exitCheck);
        break;
      }
      case 0x1f: { // try_table
        skipBlockType(r);
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const kind = r.byte();
          if (kind === 0x00 || kind === 0x01) r.u32();
          label();
        }
        stack.push(false);
        break;
      }
      case 0x0b: // end
        if (stack.length === 0 && end === null) {
          flush(r.pos);
          return;
        }
        if (stack.length === 0) insertAt(at, fuel?.spill ?? null); // the function's own end
        if (openLoops[openLoops.length - 1] === stack.length) {
          openLoops.pop();
          loopStarts.pop();
        }
        // br $done; end $need; refill; br $retry; end $retry; unreachable (types $done's end); end $done
        if (stack.pop() && fuel) insertHere([0x0c, 0x02, 0x0b, ...fuel.refill, 0x0c, 0x00, 0x0b, 0x00, 0x0b]);
        break;
      case 0x0f: // return
        insertAt(at, fuel?.spill ?? null);
        break;
      case 0x00: case 0x01: case 0x05: case 0x0a: case 0x19: case 0x1a: case 0x1b:
      case 0xd1: case 0xd3: case 0xd4:
        break;
      case 0x0c: case 0x0d: case 0xd5: case 0xd6: { // br, br_if, br_on_null, br_on_non_null
        const p = r.pos;
        const exits = r.u32() === stack.length; // to the function's label
        r.pos = p;
        if (exits) insertAt(at, fuel?.spill ?? null);
        label();
        break;
      }
      case 0x09: // rethrow
        label();
        break;
      case 0x18: // delegate ends a try block; its label counts from outside it
        stack.pop();
        label();
        break;
      case 0x14: // call_ref (type index)
        insertAt(at, fuel?.spill ?? null);
        r.u32();
        insertHere(fuel?.reload ?? null);
        break;
      case 0x15: // return_call_ref
        insertAt(at, fuel?.spill ?? null);
        r.u32();
        break;
      case 0x07: case 0x08:
      case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26:
      case 0x40:
        r.u32();
        break;
      case 0x3f: { // memory.size
        const start = r.pos - 1;
        const mem = r.u32();
        if (rw.memorySize && mem === 0) {
          flush(start);
          out.push(...rw.memorySize);
          copyFrom = r.pos;
        }
        break;
      }
      case 0x0e: { // br_table
        const p = r.pos;
        const n = r.u32();
        let exits = false;
        for (let i = 0; i <= n; i++) exits = r.u32() === stack.length || exits;
        r.pos = p;
        if (exits) insertAt(at, fuel?.spill ?? null);
        r.u32();
        for (let i = 0; i <= n; i++) label();
        break;
      }
      case 0x10: case 0x12: { // call, return_call
        insertAt(at, fuel?.spill ?? null);
        const start = r.pos;
        funcIndex(start);
        if (op === 0x10) insertHere(fuel?.reload ?? null);
        break;
      }
      case 0xd2: { // ref.func
        const start = r.pos;
        funcIndex(start);
        break;
      }
      case 0x11: case 0x13: // call_indirect, return_call_indirect
        insertAt(at, fuel?.spill ?? null);
        r.u32();
        r.u32();
        if (op === 0x11) insertHere(fuel?.reload ?? null);
        break;
      case 0x1c: { // select t*
        const n = r.u32();
        for (let i = 0; i < n; i++) skipBlockType(r);
        break;
      }
      case 0x41: case 0x42:
        skipLeb(r);
        break;
      case 0x43:
        r.bytesOf(4);
        break;
      case 0x44:
        r.bytesOf(8);
        break;
      case 0xd0:
        skipLeb(r);
        break;
      case 0xfc: {
        const sub = r.u32();
        if (sub <= 7) break;
        if (sub === 8 || sub === 12 || sub === 14) { r.u32(); r.u32(); break; }
        if (sub === 10) { r.u32(); r.u32(); break; }
        if (sub === 9 || sub === 11 || sub === 13 || (sub >= 15 && sub <= 17)) { r.u32(); break; }
        throw new WasmFormatError(`unsupported instruction 0xfc ${sub}`);
      }
      case 0xfd: {
        for (const l of loopStarts) rw.simdLoops?.add(l);
        const sub = r.u32();
        if (sub <= 11 || sub === 92 || sub === 93) skipMemarg(r);
        else if (sub === 12 || sub === 13) r.bytesOf(16);
        else if (sub >= 21 && sub <= 34) r.byte();
        else if (sub >= 84 && sub <= 91) { skipMemarg(r); r.byte(); }
        break;
      }
      case 0xfe: {
        const sub = r.u32();
        if (sub === 0x03) r.byte();
        else skipMemarg(r);
        break;
      }
      default:
        if (op >= 0x28 && op <= 0x3e) skipMemarg(r);
        else if (op >= 0x45 && op <= 0xc4) break;
        else throw new WasmFormatError(`unsupported opcode 0x${op.toString(16)} at offset ${r.pos - 1}`);
    }
  }
  flush(r.pos);
}

function section(id: number, payload: Out): Out {
  const o = new Out();
  o.push(id, ...encodeU32(payload.length));
  o.append(payload);
  return o;
}

function outOf(bytes: number[]): Out {
  const o = new Out();
  o.push(...bytes);
  return o;
}

function hasLoop(module: Uint8Array, code: Section): boolean {
  // Cheap pre-check: no 0x03 byte at all in the code section means no loop.
  return module.subarray(code.start, code.end).includes(0x03);
}

export interface InstrumentOptions {
  /**
   * Route `memory.size` through the host import `cocos:runtime/memory-size`. wasi-libc before
   * 2023 (Debian's) sizes its initial heap with memory.size at the first malloc; by then the
   * preview-1 adapter has already grown two pages for its own stack and state, so malloc hands
   * out the adapter's pages and corrupts it ("assertion failed at adapter line ..."). The host
   * answers without those pages.
   */
  hookMemorySize?: boolean;
  /** Insert the loop checks (default true; false only to measure their cost). */
  interruptible?: boolean;
}

/** What the added imports shift: every defined function index at or above `from` moves by `by`. */
interface Shift {
  from: number;
  by: number;
}
const shifted = (idx: number, sh: Shift) => (idx >= sh.from ? idx + sh.by : idx);

/**
 * Returns the module with interruptible loops, or the input when it has no code with loops.
 * Throws WasmFormatError for instruction sets it cannot decode (GC), so nothing runs uninstrumented.
 * The steps, one function each: append the host functions' types, append the imports, append the
 * fuel global, rewrite every body, renumber exports/start/elements, reassemble the sections.
 */
export function instrumentLoops(module: Uint8Array, opts: InstrumentOptions = {}): Uint8Array {
  const secs = sections(module);
  const get = (id: number) => secs.find((s) => s.id === id);
  const code = get(S.code);
  const hookMemorySize = !!opts.hookMemorySize;
  if (!code || (!hasLoop(module, code) && !hookMemorySize)) return module;

  const types = appendTypes(module, get(S.type), hookMemorySize);
  const imports = appendImports(module, get(S.import), types, hookMemorySize);
  const shift: Shift = { from: imports.importedFuncs, by: imports.added };
  const memorySizeCall = hookMemorySize ? [0x10, ...encodeU32(imports.importedFuncs + 1)] : null;
  const rw0: Rewriter = { shiftFrom: shift.from, shiftBy: shift.by, fuel: null, memorySize: null };
  const globals = appendFuelGlobal(module, get(S.global), imports.importedGlobals, rw0);
  const plain: Rewriter = { ...rw0, memorySize: memorySizeCall };
  const codeOut = rewriteCode(module, code, {
    paramCounts: types.paramCounts,
    funcTypes: functionTypes(module, get(S.func)),
    interruptible: opts.interruptible !== false,
    plain,
    withFuel: fuelRewriter(plain, imports.importedFuncs, globals.fuelGlobal),
  });

  const replaced = new Map<number, Out>([
    [S.type, outOf(types.payload)],
    [S.import, outOf(imports.payload)],
    [S.global, globals.payload],
    [S.code, codeOut],
  ]);
  const exp = get(S.export);
  if (exp) replaced.set(S.export, renumberExports(module, exp, shift));
  const start = get(S.start);
  if (start) replaced.set(S.start, outOf(encodeU32(shifted(new Reader(module, start.start, start.end).u32(), shift))));
  const elem = get(S.elem);
  if (elem) replaced.set(S.elem, renumberElements(module, elem, shift, rw0));
  return reassemble(module, secs, replaced);
}

/** Types: append `() -> ()` (and `() -> i32` for memory-size); also each type's parameter count. */
function appendTypes(module: Uint8Array, typeSec: Section | undefined, hookMemorySize: boolean) {
  let typeCount = 0;
  const typeBody: number[] = [];
  const paramCounts: number[] = [];
  if (typeSec) {
    const r = new Reader(module, typeSec.start, typeSec.end);
    typeCount = r.u32();
    for (let i = r.pos; i < typeSec.end; i++) typeBody.push(module[i]!);
    // Only plain function types can be appended to safely (GC rec groups are not parsed).
    const probe = new Reader(module, typeSec.start, typeSec.end);
    probe.u32();
    for (let i = 0; i < typeCount; i++) {
      if (probe.byte() !== 0x60) throw new WasmFormatError("GC type definitions are not supported");
      const np = probe.u32();
      paramCounts.push(np);
      for (let j = 0; j < np; j++) skipBlockType(probe);
      const nr = probe.u32();
      for (let j = 0; j < nr; j++) skipBlockType(probe);
    }
  }
  const payload = hookMemorySize
    ? [...encodeU32(typeCount + 2), ...typeBody, 0x60, 0x00, 0x00, 0x60, 0x00, 0x01, 0x7f]
    : [...encodeU32(typeCount + 1), ...typeBody, 0x60, 0x00, 0x00];
  return { payload, voidType: typeCount, i32Type: typeCount + 1, paramCounts };
}

/** Imports: count the imported functions and globals, append the host functions. */
function appendImports(
  module: Uint8Array,
  impSec: Section | undefined,
  types: { voidType: number; i32Type: number },
  hookMemorySize: boolean,
) {
  let importCount = 0;
  let importedFuncs = 0;
  let importedGlobals = 0;
  const importBody: number[] = [];
  if (impSec) {
    const r = new Reader(module, impSec.start, impSec.end);
    importCount = r.u32();
    const bodyStart = r.pos;
    for (let i = 0; i < importCount; i++) {
      r.name();
      r.name();
      const kind = r.byte();
      if (kind === 0x00) {
        importedFuncs++;
        r.u32();
      } else if (kind === 0x01) {
        r.byte();
        const f = r.byte();
        skipLeb(r);
        if (f & 1) skipLeb(r);
      } else if (kind === 0x02) {
        const f = r.byte();
        skipLeb(r);
        if (f & 1) skipLeb(r);
      } else if (kind === 0x03) {
        importedGlobals++;
        skipBlockType(r);
        r.byte();
      } else if (kind === 0x04) {
        r.byte();
        r.u32();
      } else throw new WasmFormatError(`unknown import kind ${kind}`);
    }
    for (let i = bodyStart; i < impSec.end; i++) importBody.push(module[i]!);
  }
  const added = hookMemorySize ? 2 : 1;
  const payload = [
    ...encodeU32(importCount + added),
    ...importBody,
    ...encodeName(INTERRUPT_MODULE),
    ...encodeName(INTERRUPT_NAME),
    0x00,
    ...encodeU32(types.voidType),
    ...(hookMemorySize
      ? [...encodeName(INTERRUPT_MODULE), ...encodeName(MEMORY_SIZE_NAME), 0x00, ...encodeU32(types.i32Type)]
      : []),
  ];
  return { payload, importedFuncs, importedGlobals, added };
}

/** Globals: renumber ref.func in initialisers, append the fuel counter. */
function appendFuelGlobal(module: Uint8Array, globSec: Section | undefined, importedGlobals: number, rw0: Rewriter) {
  let globalCount = 0;
  const globalBody = new Out();
  if (globSec) {
    const r = new Reader(module, globSec.start, globSec.end);
    globalCount = r.u32();
    for (let i = 0; i < globalCount; i++) {
      const start = r.pos;
      skipBlockType(r);
      r.byte();
      globalBody.span(module, start, r.pos);
      rewriteExpr(r, null, rw0, globalBody);
    }
  }
  const payload = outOf(encodeU32(globalCount + 1));
  payload.append(globalBody);
  payload.push(0x7f, 0x01, 0x41, ...signedLeb(FUEL_PER_CHECK), 0x0b);
  return { payload, fuelGlobal: importedGlobals + globalCount };
}

/** The rewriter of a function body whose fuel local is `local`. */
function fuelRewriter(plain: Rewriter, interruptFunc: number, fuelGlobal: number): (local: number) => Rewriter {
  const fuel = encodeU32(fuelGlobal);
  return (local) => {
    const l = encodeU32(local);
    const decrement = [0x20, ...l, 0x41, 0x01, 0x6b, 0x22, ...l, 0x45]; // fuel -= 1; fuel == 0
    const refill = [0x10, ...encodeU32(interruptFunc), 0x41, ...signedLeb(FUEL_PER_CHECK), 0x21, ...l];
    return {
      ...plain,
      fuel: {
        check: [...decrement, 0x04, 0x40, ...refill, 0x0b],
        exitCheck: [...decrement, 0x0d, 0x01],
        refill,
        spill: [0x20, ...l, 0x24, ...fuel],
        reload: [0x23, ...fuel, 0x21, ...l],
      },
    };
  };
}

/** Function section: each defined function's type, for its parameter count. */
function functionTypes(module: Uint8Array, funcSec: Section | undefined): number[] {
  const funcTypes: number[] = [];
  if (funcSec) {
    const r = new Reader(module, funcSec.start, funcSec.end);
    const n = r.u32();
    for (let i = 0; i < n; i++) funcTypes.push(r.u32());
  }
  return funcTypes;
}

/** Code: every body with a fuel local and loop checks when it has loops, else only renumbered. */
function rewriteCode(
  module: Uint8Array,
  code: Section,
  c: { paramCounts: number[]; funcTypes: number[]; interruptible: boolean; plain: Rewriter; withFuel: (local: number) => Rewriter },
): Out {
  const codeOut = new Out();
  const r = new Reader(module, code.start, code.end);
  const n = r.u32();
  codeOut.push(...encodeU32(n));
  for (let i = 0; i < n; i++) {
    const size = r.u32();
    const bodyEnd = r.pos + size;
    let body = new Out();
    const declStart = r.pos;
    const groups = r.u32();
    const localsStart = r.pos;
    let locals = c.paramCounts[c.funcTypes[i] ?? -1] ?? 0;
    for (let g = 0; g < groups; g++) {
      locals += r.u32();
      skipBlockType(r);
    }
    const exprStart = r.pos;
    if (c.interruptible) {
      // One more i32 local, the fuel, loaded at entry.
      const rw = c.withFuel(locals);
      if (module.subarray(exprStart, bodyEnd).includes(0xfd)) {
        const scan: Rewriter = { ...c.plain, simdLoops: new Set<number>() };
        rewriteExpr(r, bodyEnd, scan, new Out());
        r.pos = exprStart;
        rw.wrapLoops = scan.simdLoops;
      }
      body.push(...encodeU32(groups + 1));
      body.span(module, localsStart, exprStart);
      body.push(0x01, 0x7f, ...rw.fuel!.reload);
      rewriteExpr(r, bodyEnd, rw, body);
      if (!rw.sawLoop) r.pos = exprStart;
    }
    if (r.pos === exprStart) {
      body = new Out();
      body.span(module, declStart, exprStart);
      rewriteExpr(r, bodyEnd, c.plain, body);
    }
    if (r.pos !== bodyEnd) throw new WasmFormatError(`function body ${i} overran its size`);
    codeOut.push(...encodeU32(body.length));
    codeOut.append(body);
  }
  return codeOut;
}

/** Exports: function indices shift past the added imports. */
function renumberExports(module: Uint8Array, expSec: Section, shift: Shift): Out {
  const r = new Reader(module, expSec.start, expSec.end);
  const n = r.u32();
  const out = outOf(encodeU32(n));
  for (let i = 0; i < n; i++) {
    const name = r.name();
    const kind = r.byte();
    const idx = r.u32();
    out.push(...encodeName(name), kind, ...encodeU32(kind === 0x00 ? shifted(idx, shift) : idx));
  }
  return out;
}

/** Elements: function indices and ref.func in expressions shift past the added imports. */
function renumberElements(module: Uint8Array, elemSec: Section, shift: Shift, rw0: Rewriter): Out {
  const r = new Reader(module, elemSec.start, elemSec.end);
  const n = r.u32();
  const eo = outOf(encodeU32(n));
  for (let i = 0; i < n; i++) {
    const flags = r.u32();
    eo.push(...encodeU32(flags));
    const copy = (from: number) => eo.span(module, from, r.pos);
    if ((flags & 0x01) === 0) {
      if (flags & 0x02) {
        const s = r.pos;
        r.u32(); // table index
        copy(s);
      }
      rewriteExpr(r, null, rw0, eo); // offset
    }
    if ((flags & 0x03) !== 0) {
      const s = r.pos;
      if (flags & 0x04) skipBlockType(r); // reftype
      else r.byte(); // elemkind
      copy(s);
    }
    const count = r.u32();
    eo.push(...encodeU32(count));
    for (let j = 0; j < count; j++) {
      if (flags & 0x04) rewriteExpr(r, null, rw0, eo);
      else eo.push(...encodeU32(shifted(r.u32(), shift)));
    }
  }
  return eo;
}

/** Reassembles in canonical order; custom sections stay where they were, minus "name". */
function reassemble(module: Uint8Array, secs: Section[], replaced: Map<number, Out>): Uint8Array {
  const get = (id: number) => secs.find((s) => s.id === id);
  const chunks: Uint8Array[] = [module.subarray(0, 8)];
  const emitted = new Set<number>();
  const emitKnown = (id: number) => {
    if (emitted.has(id)) return;
    emitted.add(id);
    const payload = replaced.get(id);
    if (payload) chunks.push(section(id, payload).bytes());
    else {
      const s = get(id);
      if (s) chunks.push(module.subarray(s.headerStart, s.end));
    }
  };
  for (const s of secs) {
    if (s.id === S.custom) {
      const r = new Reader(module, s.start, s.end);
      if (r.name() === "name") continue;
      chunks.push(module.subarray(s.headerStart, s.end));
      continue;
    }
    // Emit any newly required sections that precede this one in canonical order.
    for (const id of ORDER) {
      if (id === s.id) break;
      if (replaced.has(id) && !get(id)) emitKnown(id);
    }
    emitKnown(s.id);
  }
  for (const id of ORDER) if (replaced.has(id)) emitKnown(id);
  return concatBytes(chunks);
}

function signedLeb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
