// Minimal reader/writer for the parts of the core Wasm binary format the runtime rewrites:
// section framing, the import section and memory limits. Everything else is copied byte for byte.

export const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d] as const;
export const CORE_VERSION = [0x01, 0x00, 0x00, 0x00] as const;
export const COMPONENT_VERSION = [0x0d, 0x00, 0x01, 0x00] as const;

const SECTION_IMPORT = 2;
const SECTION_MEMORY = 5;
const PAGE = 65536;

export class WasmFormatError extends Error {
  override name = "WasmFormatError";
}

export class Reader {
  pos: number;
  constructor(readonly bytes: Uint8Array, start = 0, readonly end = bytes.length) {
    this.pos = start;
  }
  byte(): number {
    if (this.pos >= this.end) throw new WasmFormatError(`unexpected end of data at offset ${this.pos}`);
    return this.bytes[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) break;
        return result;
      }
      shift += 7;
    }
    throw new WasmFormatError(`malformed LEB128 u32 ending at offset ${this.pos}`);
  }
  /** u64 LEB as a JS number (limits of memory64; values above 2^53 are clamped). */
  u64(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return Math.min(result, Number.MAX_SAFE_INTEGER);
      shift += 7;
    }
    throw new WasmFormatError(`malformed LEB128 u64 ending at offset ${this.pos}`);
  }
  bytesOf(n: number): Uint8Array {
    if (this.pos + n > this.end) throw new WasmFormatError(`unexpected end of data at offset ${this.pos}`);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  name(): string {
    return new TextDecoder("utf-8", { fatal: true }).decode(this.bytesOf(this.u32()));
  }
}

export function encodeU32(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** The parts (byte arrays or byte lists) laid end to end. */
export function concatBytes(parts: readonly ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function encodeName(s: string): number[] {
  const b = new TextEncoder().encode(s);
  return [...encodeU32(b.length), ...b];
}

export interface Section {
  id: number;
  /** Offset of the section id byte. */
  headerStart: number;
  /** Offsets of the section payload (after id and size) in the module. */
  start: number;
  end: number;
}

/** Splits a core module into sections; checks framing only. */
export function sections(module: Uint8Array): Section[] {
  const r = new Reader(module, 8);
  const out: Section[] = [];
  while (r.pos < module.length) {
    const headerStart = r.pos;
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    if (start + size > module.length) {
      throw new WasmFormatError(
        `section ${id} at offset ${start} declares ${size} bytes but only ${module.length - start} remain`,
      );
    }
    out.push({ id, headerStart, start, end: start + size });
    r.pos = start + size;
  }
  return out;
}

export type ImportKind = "func" | "table" | "memory" | "global" | "tag";
export interface CoreImport {
  module: string;
  name: string;
  kind: ImportKind;
}

interface RawImport extends CoreImport {
  /** The bytes of the import descriptor (kind byte and type), copied unchanged when rewriting. */
  desc: Uint8Array;
}

function skipLimits(r: Reader): void {
  const flags = r.byte();
  const is64 = (flags & 0x04) !== 0;
  if (is64) r.u64();
  else r.u32();
  if (flags & 0x01) {
    if (is64) r.u64();
    else r.u32();
  }
}

function readImports(module: Uint8Array, sec: Section): RawImport[] {
  const r = new Reader(module, sec.start, sec.end);
  const count = r.u32();
  const out: RawImport[] = [];
  for (let i = 0; i < count; i++) {
    const mod = r.name();
    const name = r.name();
    const descStart = r.pos;
    const kindByte = r.byte();
    let kind: ImportKind;
    switch (kindByte) {
      case 0x00:
        kind = "func";
        r.u32();
        break;
      case 0x01:
        kind = "table";
        r.byte();
        skipLimits(r);
        break;
      case 0x02:
        kind = "memory";
        skipLimits(r);
        break;
      case 0x03:
        kind = "global";
        r.byte();
        r.byte();
        break;
      case 0x04:
        kind = "tag";
        r.byte();
        r.u32();
        break;
      default:
        throw new WasmFormatError(`unknown import kind 0x${kindByte.toString(16)} for ${mod}.${name}`);
    }
    out.push({ module: mod, name, kind, desc: module.subarray(descStart, r.pos) });
  }
  return out;
}

export function coreImports(module: Uint8Array): CoreImport[] {
  const sec = sections(module).find((s) => s.id === SECTION_IMPORT);
  return sec ? readImports(module, sec).map(({ module, name, kind }) => ({ module, name, kind })) : [];
}

function replaceSection(module: Uint8Array, sec: Section, payload: number[]): Uint8Array {
  const headerStart = sec.headerStart;
  const before = module.subarray(0, headerStart);
  const after = module.subarray(sec.end);
  const header = [sec.id, ...encodeU32(payload.length)];
  const out = new Uint8Array(before.length + header.length + payload.length + after.length);
  out.set(before, 0);
  out.set(header, before.length);
  out.set(payload, before.length + header.length);
  out.set(after, before.length + header.length + payload.length);
  return out;
}

/** Returns a copy of the module with the matching imports renamed (types unchanged). */
export function renameImports(
  module: Uint8Array,
  rename: (imp: CoreImport) => { module: string; name: string } | null,
): Uint8Array {
  const sec = sections(module).find((s) => s.id === SECTION_IMPORT);
  if (!sec) return module;
  const imports = readImports(module, sec);
  let changed = false;
  const payload: number[] = [...encodeU32(imports.length)];
  for (const imp of imports) {
    const to = rename(imp);
    if (to) changed = true;
    payload.push(...encodeName(to?.module ?? imp.module), ...encodeName(to?.name ?? imp.name), ...imp.desc);
  }
  return changed ? replaceSection(module, sec, payload) : module;
}

const SECTION_EXPORT = 7;

/** Names of the module's exports. */
export function coreExportNames(module: Uint8Array): string[] {
  const sec = sections(module).find((s) => s.id === SECTION_EXPORT);
  if (!sec) return [];
  const r = new Reader(module, sec.start, sec.end);
  const n = r.u32();
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(r.name());
    r.byte();
    r.u32();
  }
  return out;
}

export interface MemoryLimits {
  minPages: number;
  maxPages: number | null;
  memory64: boolean;
}

export function definedMemories(module: Uint8Array): MemoryLimits[] {
  const sec = sections(module).find((s) => s.id === SECTION_MEMORY);
  if (!sec) return [];
  const r = new Reader(module, sec.start, sec.end);
  const count = r.u32();
  const out: MemoryLimits[] = [];
  for (let i = 0; i < count; i++) {
    const flags = r.byte();
    const memory64 = (flags & 0x04) !== 0;
    const minPages = memory64 ? r.u64() : r.u32();
    const maxPages = flags & 0x01 ? (memory64 ? r.u64() : r.u32()) : null;
    if (flags & 0x02) throw new WasmFormatError("shared memories are not supported (the runtime is single-threaded)");
    out.push({ minPages, maxPages, memory64 });
  }
  return out;
}

/**
 * Lowers the maximum of every memory the module defines to `capBytes`, so `memory.grow` fails
 * beyond the cap inside the engine. A memory whose minimum already exceeds the cap keeps its
 * minimum as maximum (instantiation then fails with the engine's allocation error only if the
 * host cannot provide it; the caller reports it as a memory limit).
 */
export function capMemories(module: Uint8Array, capBytes: number): { module: Uint8Array; overCap: boolean } {
  const sec = sections(module).find((s) => s.id === SECTION_MEMORY);
  if (!sec) return { module, overCap: false };
  const capPages = Math.max(0, Math.floor(capBytes / PAGE));
  const mems = definedMemories(module);
  let overCap = false;
  const payload: number[] = [...encodeU32(mems.length)];
  for (const m of mems) {
    if (m.memory64) throw new WasmFormatError("memory64 is not supported");
    if (m.minPages > capPages) overCap = true;
    const max = Math.min(m.maxPages ?? capPages, capPages);
    payload.push(0x01, ...encodeU32(m.minPages), ...encodeU32(Math.max(max, m.minPages)));
  }
  return { module: replaceSection(module, sec, payload), overCap };
}

export const WASM_PAGE_SIZE = PAGE;
