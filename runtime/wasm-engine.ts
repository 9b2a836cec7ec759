// Main-thread side of the Wasm runtime: prepares (load + transpile, cached) off the main thread and
// runs each computation in a fresh Worker, enforcing the wall-clock limit and cleaning up after it.

import { closeSync } from "node:fs";
import { sha3Hex } from "./load.ts";
import { TranspileCache, type TranspiledComponent, type CacheOptions } from "./transpile.ts";
import { AlgorithmError, DEFAULT_LIMITS, type RunLimits, type RunOutcome } from "./types.ts";
import { capMemories } from "./wasm/binary.ts";
import type { PreopenSpec } from "./wasi/filesystem.ts";
import { nativeIdle } from "./nn/index.ts";
import {
  INTERRUPT_SLOT,
  SHARED_SLOTS,
  epochNow,
  type DatasetEntry,
  type FromWorker,
  type PreloadRequest,
  type RunRequest,
  type WorkerTimings,
} from "./worker-protocol.ts";

export type { PreopenSpec } from "./wasi/filesystem.ts";
export type { DatasetEntry } from "./worker-protocol.ts";
export type { TranspiledComponent } from "./transpile.ts";

/** The worker entrypoint; `bun build --compile` must list runtime/wasm-worker.ts as an extra entrypoint. */
const WORKER_URL = new URL("./wasm-worker.ts", import.meta.url).href;

export interface RunTimings {
  /** Whether load + transpile came from the cache. */
  cached: boolean;
  /** Preview-1 wrap (0 for a component or a cache hit). */
  adaptMs: number;
  /** bindgen + instrumentation (0 on a cache hit). */
  transpileMs: number;
  /** From the start of the run until the worker had the run message (worker boot when no spare was ready). */
  workerMs: number;
  /** The run's Worker had imported and warmed the generated JS before the run (see prepareWasm). */
  preloaded: boolean;
  /** Import of the generated JS in the worker (or the wait for its preload). */
  importMs: number;
  /** Compile (0 when the compiled modules were cached) + instantiate of the core modules. */
  instantiateMs: number;
  /** From run start (bytes in hand) to the call of the guest's entry export: the cold start. */
  firstInstructionMs: number;
  /** Whole run, until the outcome was known. */
  totalMs: number;
}

export type WasmOutcome = RunOutcome & { timings: RunTimings };

export interface WasmRunOptions {
  /** argv as the guest sees it, argv[0] included. */
  argv: string[];
  env?: Record<string, string>;
  preopens: PreopenSpec[];
  limits?: Partial<RunLimits>;
  onStdout?: (data: Uint8Array) => void;
  onStderr?: (data: Uint8Array) => void;
  onProgress?: (fraction: number, message: string) => void;
  /** For cocos:computation/datasets: the manifest's list (sizes filled from datasetsDir when < 0)... */
  datasets?: DatasetEntry[];
  /** ...and/or the directory whose files are listed and hashed on demand. */
  datasetsDir?: string;
  /** Where an inference component's answer is written as results.txt. */
  resultsDir?: string;
  signal?: AbortSignal;
}

// ---------------------------------------------------------------------------------------------
// Transpile service: one long-lived worker keeps bindgen warm; requests are serialised.

const TRANSPILE_TIMEOUT_MS = 120_000;
let transpiler: Worker | undefined;
let transpileSeq = 0;
const pendingTranspiles = new Map<
  number,
  { resolve: (t: TranspiledComponent) => void; reject: (e: Error) => void; timer: Timer }
>();

function transpileWorker(): Worker {
  if (transpiler) return transpiler;
  const w = new Worker(WORKER_URL);
  w.unref();
  w.onmessage = (ev: MessageEvent<FromWorker>) => {
    const m = ev.data;
    if (m.type !== "transpiled") return;
    const p = pendingTranspiles.get(m.id);
    if (!p) return;
    pendingTranspiles.delete(m.id);
    clearTimeout(p.timer);
    if (pendingTranspiles.size === 0) w.unref();
    if (m.result) p.resolve(m.result);
    else p.reject(m.error?.algorithm ? new AlgorithmError(m.error.message) : new Error(m.error?.message));
  };
  w.onerror = (ev) => resetTranspiler(new Error(`transpile worker failed: ${ev.message}`));
  transpiler = w;
  return w;
}

function resetTranspiler(reason: Error): void {
  const w = transpiler;
  transpiler = undefined;
  for (const [id, p] of pendingTranspiles) {
    clearTimeout(p.timer);
    p.reject(reason);
    pendingTranspiles.delete(id);
  }
  w?.terminate();
}

function transpileOffThread(bytes: Uint8Array, hash: string): Promise<TranspiledComponent> {
  const w = transpileWorker();
  const id = ++transpileSeq;
  w.ref();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => resetTranspiler(new AlgorithmError(`transpiling the component took longer than ${TRANSPILE_TIMEOUT_MS} ms`)),
      TRANSPILE_TIMEOUT_MS,
    );
    pendingTranspiles.set(id, { resolve, reject, timer });
    w.postMessage({ type: "transpile", id, bytes, hash });
  });
}

/**
 * Starts the transpile worker and bindgen so the first upload does not pay for it, and boots the
 * spare run Worker (the bulk of a cached run's start: ~40 ms importing the WASI host).
 */
export function warmup(opts: { transpiler?: boolean } = {}): void {
  if (opts.transpiler !== false) transpileWorker();
  spareWorker();
}

let defaultCache = new TranspileCache();

/** Replaces the process-wide transpile cache (e.g. to add a directory). */
export function configureCache(opts: CacheOptions): TranspileCache {
  defaultCache = new TranspileCache(opts);
  return defaultCache;
}

export function transpileCache(): TranspileCache {
  return defaultCache;
}

/**
 * Load + adapt + transpile (cached by SHA3-256 of `bytes`). Throws AlgorithmError for input that is
 * not a runnable component (not Wasm, truncated, unsatisfiable imports, no known entry point).
 * Also gets the next run ready ahead: the core modules are compiled for `memoryBytes` (the default
 * cap unless given) and the spare Worker imports and warms the generated JS.
 */
export async function prepareWasm(
  bytes: Uint8Array,
  cache: TranspileCache = defaultCache,
  opts: { memoryBytes?: number; sha3?: string } = {},
): Promise<{ component: TranspiledComponent; cached: boolean }> {
  // A caller that has hashed the bytes already (the agent checks the upload against the manifest)
  // passes it: 21.5 MB take ~100 ms to hash here.
  const hash = opts.sha3 ?? sha3Hex(bytes);
  const hit = await cache.get(hash);
  const component = hit ?? (await transpileOffThread(bytes, hash));
  if (!hit) await cache.set(component);
  expectNext(component);
  void compiledModules(component, opts.memoryBytes ?? DEFAULT_LIMITS.memoryBytes);
  return { component, cached: !!hit };
}

// ---------------------------------------------------------------------------------------------
// Run workers: one fresh worker per run; a spare is booted ahead so a run does not wait for it.

interface BootingWorker {
  worker: Worker;
  ready: Promise<void>;
  /** Hash of the component whose generated JS this worker was told to preload. */
  preloaded?: string;
  /** Receives every message but "ready". */
  onMessage: (m: FromWorker) => void;
  /** Called once if the worker fails or exits; remembered when it happens before a run attaches. */
  onGone: (why: string) => void;
  gone?: string;
}

let spare: BootingWorker | undefined;
/** The component the next run most likely needs: the last one prepared or run. */
let expected: { hash: string; js: Uint8Array } | undefined;

function expectNext(c: TranspiledComponent): void {
  const js = c.files[c.jsName];
  if (!js) return;
  if (expected?.hash !== c.hash) expected = { hash: c.hash, js };
  preloadInto(spareWorker());
}

function preloadInto(w: BootingWorker): void {
  if (!expected || w.preloaded || w.gone) return;
  w.preloaded = expected.hash;
  w.worker.postMessage({ type: "preload", hash: expected.hash, js: expected.js } satisfies PreloadRequest);
}

function bootWorker(): BootingWorker {
  const worker = new Worker(WORKER_URL);
  worker.unref();
  let resolveReady!: () => void;
  const booting: BootingWorker = {
    worker,
    ready: new Promise<void>((resolve) => (resolveReady = resolve)),
    onMessage: () => {},
    onGone: (why) => {
      booting.gone = why;
      if (spare === booting) spare = undefined;
    },
  };
  worker.onmessage = (ev: MessageEvent<FromWorker>) => {
    if (ev.data.type === "ready") resolveReady();
    else booting.onMessage(ev.data);
  };
  worker.onerror = (ev) => {
    ev.preventDefault?.();
    booting.onGone(`run worker crashed: ${ev.message}`);
  };
  worker.addEventListener("close", () => booting.onGone("run worker exited before reporting an outcome"));
  return booting;
}

function spareWorker(): BootingWorker {
  if (spare?.gone) spare = undefined;
  if (!spare) {
    spare = bootWorker();
    preloadInto(spare);
  }
  return spare;
}

function takeWorker(): BootingWorker {
  const w = spareWorker();
  spare = undefined;
  return w;
}

// Compiled core modules (memory cap applied), keyed by component hash and cap. A WebAssembly.Module
// can be posted to a Worker, so a cached run skips compilation entirely.
const MAX_COMPILED = 8;
const compiled = new Map<string, Promise<Record<string, WebAssembly.Module> | undefined>>();

function compiledModules(c: TranspiledComponent, capBytes: number): Promise<Record<string, WebAssembly.Module> | undefined> {
  const key = `${c.hash}:${capBytes}`;
  let hit = compiled.get(key);
  if (hit) {
    compiled.delete(key);
    compiled.set(key, hit);
    return hit;
  }
  hit = (async () => {
    const out: Record<string, WebAssembly.Module> = {};
    for (const [name, bytes] of Object.entries(c.files)) {
      if (!name.endsWith(".wasm")) continue;
      const capped = capMemories(bytes, capBytes);
      // Over the cap: let the worker report the memory limit itself.
      if (capped.overCap) return undefined;
      out[name] = await WebAssembly.compile(capped.module);
    }
    return out;
  })().catch(() => undefined);
  compiled.set(key, hit);
  while (compiled.size > MAX_COMPILED) compiled.delete(compiled.keys().next().value as string);
  return hit;
}

function resolveLimits(l?: Partial<RunLimits>): RunLimits {
  return { ...DEFAULT_LIMITS, ...(l ?? {}) };
}

/** Runs a prepared component once in its own Worker. Never throws for what the guest does. */
export async function runPrepared(
  component: TranspiledComponent,
  opts: WasmRunOptions,
  prep: { cached: boolean; startedAt?: number } = { cached: true },
): Promise<WasmOutcome> {
  const startedAt = prep.startedAt ?? epochNow();
  const limits = resolveLimits(opts.limits);
  const shared = new SharedArrayBuffer(SHARED_SLOTS * 4);
  const flags = new Int32Array(shared);
  const nnBusy = new SharedArrayBuffer(4);
  const modulesP = compiledModules(component, limits.memoryBytes);
  const booted = takeWorker();
  const { worker } = booted;
  worker.ref();

  let workerTimings: WorkerTimings | undefined;
  let workerAt = 0;
  let settled = false;
  let resolveOutcome!: (o: RunOutcome) => void;
  const outcomeP = new Promise<RunOutcome>((r) => (resolveOutcome = r));
  type Pending = RunOutcome extends infer O ? (O extends RunOutcome ? Omit<O, "durationMs"> : never) : never;
  const settle = (o: Pending) => {
    if (settled) return;
    settled = true;
    resolveOutcome({ ...o, durationMs: epochNow() - startedAt } as RunOutcome);
  };

  const closed = new Promise<void>((resolve) => worker.addEventListener("close", () => resolve(), { once: true }));
  if (booted.gone) settle({ kind: "error", message: booted.gone });
  booted.onGone = (why) => settle({ kind: "error", message: why });
  booted.onMessage = (m: FromWorker) => {
    switch (m.type) {
      case "stdio":
        (m.stream === "stdout" ? opts.onStdout : opts.onStderr)?.(m.data);
        break;
      case "progress":
        opts.onProgress?.(m.fraction, m.message);
        break;
      case "entered":
        workerTimings = m.timings;
        break;
      case "done":
        workerTimings = m.timings ?? workerTimings;
        settle(m.outcome);
        break;
    }
  };

  const stop = (o: Parameters<typeof settle>[0]) => {
    Atomics.store(flags, INTERRUPT_SLOT, 1);
    Atomics.notify(flags, INTERRUPT_SLOT);
    settle(o);
  };
  const timer = setTimeout(
    () => stop({ kind: "limit", limit: "timeout", message: `wall-clock limit of ${limits.timeoutMs} ms reached` }),
    limits.timeoutMs,
  );
  const onAbort = () => stop({ kind: "aborted", message: `run aborted: ${String(opts.signal?.reason ?? "stopped")}` });
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });

  const [, modules] = await Promise.all([Promise.race([booted.ready, outcomeP]), modulesP]);
  workerAt = epochNow();
  if (!settled) {
    const req: RunRequest = {
      type: "run",
      // With compiled modules the worker needs only the generated JS: posting the core modules' bytes
      // too would copy them (21.5 MB for flite) into the worker for nothing.
      component: modules ? { ...component, files: { [component.jsName]: component.files[component.jsName]! } } : component,
      argv: opts.argv,
      env: Object.entries(opts.env ?? {}),
      preopens: opts.preopens,
      memoryBytes: limits.memoryBytes,
      maxResultsBytes: limits.maxResultsBytes,
      maxStdioBytes: limits.maxStdioBytes,
      datasets: opts.datasets,
      datasetsDir: opts.datasetsDir,
      resultsDir: opts.resultsDir,
      modules,
      shared,
      nnBusy,
    };
    worker.postMessage(req);
  }

  const outcome = await outcomeP;
  clearTimeout(timer);
  opts.signal?.removeEventListener("abort", onAbort);
  // Ends the worker; its loops reach an instrumented check within ~a million iterations and its
  // sleeps wake on the notify, then the pending exception unwinds the guest.
  Atomics.store(flags, INTERRUPT_SLOT, 1);
  Atomics.notify(flags, INTERRUPT_SLOT);
  // Not while it is inside ONNX Runtime: that aborts the process (runtime/nn/native-guard.ts).
  void nativeIdle(new Int32Array(nnBusy)).then(() => worker.terminate());
  worker.unref();
  // Close the host fds the guest still held, but only once the worker is gone: closing them
  // earlier could let a still-running guest write into a reused descriptor of the agent.
  void closed.then(() => {
    for (let i = 1; i < flags.length; i++) {
      const v = Atomics.exchange(flags, i, 0);
      if (v > 0) {
        try {
          closeSync(v - 1);
        } catch {
          // already closed
        }
      }
    }
  });

  // Boot the next spare now that this run no longer competes with it for CPU, expecting a rerun.
  expectNext(component);
  const t = workerTimings;
  const timings: RunTimings = {
    cached: prep.cached,
    adaptMs: prep.cached ? 0 : component.adaptMs,
    transpileMs: prep.cached ? 0 : component.transpileMs,
    workerMs: workerAt - startedAt,
    preloaded: t?.preloaded ?? false,
    importMs: t?.importMs ?? 0,
    instantiateMs: t?.instantiateMs ?? 0,
    firstInstructionMs: t?.enteredAt ? t.enteredAt - startedAt : 0,
    totalMs: epochNow() - startedAt,
  };
  return { ...outcome, timings };
}

/** prepareWasm + runPrepared; AlgorithmError (rejected) for input that cannot run at all. */
export async function runWasm(bytes: Uint8Array, opts: WasmRunOptions): Promise<WasmOutcome> {
  const startedAt = epochNow();
  const { component, cached } = await prepareWasm(bytes);
  return runPrepared(component, opts, { cached, startedAt });
}
