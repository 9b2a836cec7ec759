// In-process transpile of a component with jco's bindgen (`generate()`, async instantiation, so each
// run supplies its own imports), plus loop instrumentation of the core modules and a cache keyed by
// SHA3-256: an in-memory LRU and an optional directory.

import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadWasm, sha3Hex, type WasmKind } from "./load.ts";
import { AlgorithmError } from "./types.ts";
import { instrumentLoops } from "./wasm/instrument.ts";
import { WasmFormatError, coreExportNames } from "./wasm/binary.ts";
import { NN_INTERFACES } from "./nn/index.ts";

export type EntryPoint = "run" | "infer";

export interface TranspiledComponent {
  /** SHA3-256 of the uploaded bytes (the cache key; equals componentHash for a component upload). */
  hash: string;
  componentHash: string;
  sourceKind: WasmKind;
  entry: EntryPoint;
  /** The generated ES module (instantiation mode) and its core modules, loops instrumented. */
  jsName: string;
  files: Record<string, Uint8Array>;
  /** Core module whose memory.size goes through the host (see wasm/instrument.ts), or null. */
  heapFix: string | null;
  /** Unversioned interface names the component imports, e.g. "wasi:cli/stdout". */
  imports: string[];
  exports: [string, string][];
  /** Time to wrap a preview-1 module (0 for a component) and to run bindgen + instrumentation. */
  adaptMs: number;
  transpileMs: number;
}

/** Interfaces the worker's host provides (sockets are present but refuse everything). */
export const SUPPORTED_IMPORTS: ReadonlySet<string> = new Set([
  ...["environment", "exit", "stdin", "stdout", "stderr", "terminal-input", "terminal-output", "terminal-stdin",
    "terminal-stdout", "terminal-stderr"].map((i) => `wasi:cli/${i}`),
  "wasi:clocks/monotonic-clock", "wasi:clocks/wall-clock",
  "wasi:filesystem/types", "wasi:filesystem/preopens",
  "wasi:io/error", "wasi:io/poll", "wasi:io/streams",
  "wasi:random/random", "wasi:random/insecure", "wasi:random/insecure-seed",
  ...["instance-network", "ip-name-lookup", "network", "tcp", "tcp-create-socket", "udp", "udp-create-socket"].map(
    (i) => `wasi:sockets/${i}`,
  ),
  "cocos:computation/datasets", "cocos:computation/progress",
  ...NN_INTERFACES,
]);

function unversioned(name: string): string {
  return name.replace(/@[^/]*$/, "");
}

/** Checks what the component needs against what the host provides; names whatever is missing. */
export function checkWorld(imports: string[], exports: [string, string][]): EntryPoint {
  const missing = imports.map(unversioned).filter((i) => !SUPPORTED_IMPORTS.has(i));
  if (missing.length > 0) {
    throw new AlgorithmError(
      `component imports ${missing.join(", ")}, which this runtime does not provide ` +
        `(it provides wasi:cli, wasi:clocks, wasi:filesystem, wasi:io, wasi:random, wasi:sockets without network, ` +
        `cocos:computation/datasets and cocos:computation/progress)`,
    );
  }
  const names = exports.map(([n]) => unversioned(n));
  if (names.includes("wasi:cli/run")) return "run";
  if (exports.some(([n, kind]) => n === "infer" && kind === "function")) return "infer";
  throw new AlgorithmError(
    `component exports ${names.join(", ") || "nothing"}; expected wasi:cli/run (a command) or ` +
      `infer: func(input: string) -> result<string, string> (the cocos:computation inference world)`,
  );
}

let bindgen: Promise<typeof import("@bytecodealliance/jco-transpile/component")> | undefined;
/** Loads and initialises jco's bindgen component (~200 ms once per thread). */
export function warmBindgen(): Promise<unknown> {
  bindgen ??= import("@bytecodealliance/jco-transpile/component").then(async (m) => {
    await m.$init;
    return m;
  });
  return bindgen;
}

/**
 * Load (detect/adapt), transpile and instrument, all in the calling thread. `interruptible: false`
 * leaves the loops alone; only the benchmark uses it, to measure what the checks cost.
 */
export async function transpileUpload(
  bytes: Uint8Array,
  hash = sha3Hex(bytes),
  opts: { interruptible?: boolean } = {},
): Promise<TranspiledComponent> {
  const t0 = performance.now();
  const loaded = await loadWasm(bytes);
  const t1 = performance.now();
  const m = (await warmBindgen()) as typeof import("@bytecodealliance/jco-transpile/component");
  let g: ReturnType<typeof m.generate>;
  try {
    g = m.generate(loaded.component, {
      name: "component",
      map: [],
      instantiation: { tag: "async" },
      noTypescript: true,
      base64Cutoff: 0,
      noNodejsCompat: false,
      noComponentErrorWrapping: true,
    });
  } catch (e) {
    throw new AlgorithmError(`invalid component: ${e instanceof Error ? e.message : String(e)}`);
  }
  const entry = checkWorld(g.imports, g.exports);
  const heapFix = preview1MainNeedingHeapFix(g.files);
  const files: Record<string, Uint8Array> = {};
  for (const [name, data] of g.files) {
    try {
      files[name] = name.endsWith(".wasm")
        ? instrumentLoops(data, { hookMemorySize: name === heapFix, interruptible: opts.interruptible })
        : data;
    } catch (e) {
      if (e instanceof WasmFormatError) {
        throw new AlgorithmError(`cannot make ${name} interruptible: ${e.message}`);
      }
      throw e;
    }
  }
  return {
    hash,
    componentHash: loaded.kind === "component" ? hash : sha3Hex(loaded.component),
    sourceKind: loaded.kind,
    entry,
    jsName: "component.js",
    files,
    heapFix,
    imports: g.imports,
    exports: g.exports,
    adaptMs: t1 - t0,
    transpileMs: performance.now() - t1,
  };
}

/**
 * The main module of a preview-1 program wrapped with wit-component's adapter, when it has no
 * `cabi_realloc` of its own (old wasi-libc): the adapter then takes memory with memory.grow.
 */
function preview1MainNeedingHeapFix(files: [string, Uint8Array][]): string | null {
  const wasm = files.filter(([n]) => n.endsWith(".wasm"));
  const exportsOf = new Map(wasm.map(([n, b]) => [n, coreExportNames(b)]));
  const hasAdapter = [...exportsOf.values()].some((e) => e.includes("cabi_import_realloc"));
  if (!hasAdapter) return null;
  const main = [...exportsOf].find(([, e]) => e.includes("_start") && e.includes("memory") && !e.includes("cabi_realloc"));
  return main ? main[0] : null;
}

function sizeOf(t: TranspiledComponent): number {
  return Object.values(t.files).reduce((n, f) => n + f.byteLength, 0);
}

export interface CacheOptions {
  maxEntries?: number;
  maxBytes?: number;
  /** Directory for a persistent cache (one subdirectory per hash); none when omitted. */
  dir?: string;
}

// Bump when the cached artefact changes shape (instrumentation, bindgen options).
const CACHE_FORMAT = "v3";

/** LRU of transpiled components keyed by SHA3-256 of the upload, optionally backed by a directory. */
export class TranspileCache {
  #mem = new Map<string, TranspiledComponent>();
  #bytes = 0;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly dir: string | undefined;

  constructor(opts: CacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 32;
    this.maxBytes = opts.maxBytes ?? 256 * 1024 ** 2;
    this.dir = opts.dir;
  }

  async get(hash: string): Promise<TranspiledComponent | undefined> {
    const hit = this.#mem.get(hash);
    if (hit) {
      this.#mem.delete(hash);
      this.#mem.set(hash, hit);
      return hit;
    }
    if (!this.dir || !/^[0-9a-f]{64}$/.test(hash)) return undefined;
    const base = join(this.dir, `${CACHE_FORMAT}-${hash}`);
    try {
      const meta = JSON.parse(await readFile(join(base, "meta.json"), "utf8")) as Omit<TranspiledComponent, "files"> & {
        fileNames: string[];
      };
      const files: Record<string, Uint8Array> = {};
      for (const name of meta.fileNames) files[name] = new Uint8Array(await readFile(join(base, name)));
      const { fileNames: _ignored, ...rest } = meta;
      const t: TranspiledComponent = { ...rest, files };
      this.#remember(t);
      return t;
    } catch {
      return undefined;
    }
  }

  async set(t: TranspiledComponent): Promise<void> {
    this.#remember(t);
    if (!this.dir) return;
    const base = join(this.dir, `${CACHE_FORMAT}-${t.hash}`);
    const tmp = `${base}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      await mkdir(tmp, { recursive: true });
      for (const [name, data] of Object.entries(t.files)) {
        if (name.includes("/") || name.startsWith(".")) throw new Error(`unexpected file name ${name}`);
        await writeFile(join(tmp, name), data);
      }
      const { files, ...meta } = t;
      await writeFile(join(tmp, "meta.json"), JSON.stringify({ ...meta, fileNames: Object.keys(files) }));
      await rename(tmp, base).catch(async () => rm(tmp, { recursive: true, force: true }));
    } catch {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  clearMemory(): void {
    this.#mem.clear();
    this.#bytes = 0;
  }

  #remember(t: TranspiledComponent): void {
    const old = this.#mem.get(t.hash);
    if (old) {
      this.#bytes -= sizeOf(old);
      this.#mem.delete(t.hash);
    }
    this.#mem.set(t.hash, t);
    this.#bytes += sizeOf(t);
    while (this.#mem.size > this.maxEntries || (this.#bytes > this.maxBytes && this.#mem.size > 1)) {
      const [k, v] = this.#mem.entries().next().value as [string, TranspiledComponent];
      this.#mem.delete(k);
      this.#bytes -= sizeOf(v);
    }
  }
}
