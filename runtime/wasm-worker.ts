// Worker entry (a separate entrypoint of `bun build --compile`). Two roles, chosen by message:
// "transpile" — load/adapt/generate off the main thread (a long-lived worker keeps bindgen warm);
// "run" — instantiate one component with its own WASI host and run it once; one run per worker.

import { closeSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FromWorker, RunRequest, ToWorker, WorkerOutcome, WorkerTimings } from "./worker-protocol.ts";
import { INTERRUPT_SLOT, epochNow } from "./worker-protocol.ts";
import { AlgorithmError } from "./types.ts";
import { INTERRUPT_MODULE, INTERRUPT_NAME, MEMORY_SIZE_NAME } from "./wasm/instrument.ts";
import { WASM_PAGE_SIZE, capMemories } from "./wasm/binary.ts";
import { createNn } from "./nn/index.ts";

declare const self: Worker;
const post = (m: FromWorker, transfer?: ArrayBuffer[]) => self.postMessage(m, transfer ?? []);

// Preload the host for the run role so a spare worker is ready before the run arrives.
const hostModule = import("./wasi/host.ts");
let role: "transpile" | "run" | undefined;

interface GeneratedModule {
  instantiate(
    getCoreModule: (name: string) => Promise<WebAssembly.Module>,
    imports: Record<string, unknown>,
    instantiateCore: (m: WebAssembly.Module, imports: Record<string, Record<string, unknown>>) => Promise<WebAssembly.Instance>,
  ): Promise<Record<string, unknown>>;
}

function importGenerated(js: Uint8Array): Promise<GeneratedModule> {
  const b64 = Buffer.from(js.buffer, js.byteOffset, js.byteLength).toString("base64");
  return import(`data:text/javascript;base64,${b64}`) as Promise<GeneratedModule>;
}

/** The generated JS of the component this spare was told to expect (see PreloadRequest). */
let preloaded: { hash: string; mod: Promise<GeneratedModule> } | undefined;

/**
 * Imports the generated JS and runs its instantiate() up to the first core instantiation, which
 * throws: JSC then has the bytecode of that ~10k-line function, the bulk of a cold instantiate.
 * Every instantiate() call builds its state in its own closure, and the throwaway host has no
 * preopens, so nothing of this reaches the run's instance.
 */
async function preload(js: Uint8Array): Promise<GeneratedModule> {
  const mod = await importGenerated(js);
  const { createHost } = await hostModule;
  const host = createHost({
    argv: [],
    env: [],
    preopens: [],
    maxStdioBytes: 0,
    maxResultsBytes: 0,
    onStdio: () => {},
    onProgress: () => {},
    datasets: () => [],
    fdOpened: () => {},
    fdClosed: () => {},
    sleep: () => {},
  });
  const stop = new Error("preload stops before the first core instance");
  await mod
    .instantiate(
      async () => undefined as unknown as WebAssembly.Module,
      host.imports,
      async () => {
        throw stop;
      },
    )
    .catch(() => {});
  return mod;
}

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  if (msg.type === "preload") {
    if (role || preloaded) return;
    preloaded = { hash: msg.hash, mod: preload(msg.js) };
    preloaded.mod.catch(() => {}); // the run imports afresh
    return;
  }
  if (msg.type === "transpile") {
    role ??= "transpile";
    const { transpileUpload } = await import("./transpile.ts");
    try {
      const result = await transpileUpload(msg.bytes, msg.hash);
      post({ type: "transpiled", id: msg.id, result });
    } catch (e) {
      post({
        type: "transpiled",
        id: msg.id,
        error: { algorithm: e instanceof AlgorithmError, message: e instanceof Error ? e.message : String(e) },
      });
    }
    return;
  }
  if (msg.type === "run") {
    if (role) throw new Error("a run worker runs exactly one computation");
    role = "run";
    let timings: WorkerTimings | undefined;
    let outcome: WorkerOutcome;
    try {
      ({ outcome, timings } = await run(msg));
    } catch (e) {
      outcome = { kind: "error", message: `runtime fault: ${e instanceof Error ? e.message : String(e)}` };
    }
    post({ type: "done", outcome, timings });
  }
};

async function run(req: RunRequest): Promise<{ outcome: WorkerOutcome; timings: WorkerTimings }> {
  const receivedAt = epochNow();
  const shared = new Int32Array(req.shared);
  const { createHost, Interrupted, LimitExceeded, WasiExit, scanDatasets } = await hostModule;

  const fdSlots = new Map<number, number>();
  const fdOpened = (fd: number) => {
    for (let i = 1; i < shared.length; i++) {
      if (Atomics.compareExchange(shared, i, 0, fd + 1) === 0) {
        fdSlots.set(fd, i);
        return;
      }
    }
  };
  const fdClosed = (fd: number) => {
    const slot = fdSlots.get(fd);
    if (slot !== undefined) Atomics.store(shared, slot, 0);
    fdSlots.delete(fd);
  };

  let datasetCache: ReturnType<typeof scanDatasets> | undefined;
  const host = createHost({
    argv: req.argv,
    env: req.env,
    preopens: req.preopens,
    maxStdioBytes: req.maxStdioBytes,
    maxResultsBytes: req.maxResultsBytes,
    onStdio: (stream, data) => post({ type: "stdio", stream, data }, [data.buffer as ArrayBuffer]),
    onProgress: (fraction, message) => post({ type: "progress", fraction, message }),
    datasets: () => {
      datasetCache ??= req.datasets
        ? req.datasets.map((d) => ({ ...d, size: d.size >= 0 ? d.size : sizeOf(req.datasetsDir, d.name) }))
        : req.datasetsDir
          ? scanDatasets(req.datasetsDir)
          : [];
      return datasetCache;
    },
    fdOpened,
    fdClosed,
    sleep: (ms) => {
      Atomics.wait(shared, INTERRUPT_SLOT, 0, ms);
      interrupt();
    },
  });

  const nn = createNn({
    memoryBytes: req.memoryBytes, datasetsDir: req.datasetsDir, datasets: req.datasets,
    log: (line) => host.stderr.write(new TextEncoder().encode(`${line}\n`)),
    checkInterrupt: () => interrupt(),
    busy: req.nnBusy,
  });
  Object.assign(host.imports, nn.imports);

  const c = req.component;
  const t0 = performance.now();
  const js = c.files[c.jsName];
  if (!js) throw new Error(`transpiled component has no ${c.jsName}`);
  const warm = preloaded?.hash === c.hash ? await preloaded.mod.catch(() => undefined) : undefined;
  const mod = warm ?? (await importGenerated(js));
  const t1 = performance.now();

  const memories: WebAssembly.Memory[] = [];
  const interrupt = () => {
    if (Atomics.load(shared, INTERRUPT_SLOT) !== 0) throw new Interrupted("interrupted by the host");
  };
  const getCoreModule = async (name: string) => {
    const compiled = req.modules?.[name];
    if (compiled) return compiled;
    const bytes = c.files[name];
    if (!bytes) throw new Error(`transpiled component has no core module ${name}`);
    const capped = capMemories(bytes, req.memoryBytes);
    if (capped.overCap) {
      throw new LimitExceeded(
        "memory",
        `memory limit: ${name} needs more initial memory than the cap of ${req.memoryBytes} bytes`,
      );
    }
    return WebAssembly.compile(capped.module);
  };
  // memory.size of a preview-1 main module, without the pages the adapter grew before the first
  // call (see wasm/instrument.ts): wasi-libc's malloc then never claims the adapter's pages.
  const heap: { memory?: WebAssembly.Memory; initialPages: number; foreign?: number } = { initialPages: 0 };
  const memorySize = () => {
    const pages = (heap.memory?.buffer.byteLength ?? 0) / WASM_PAGE_SIZE;
    heap.foreign ??= pages - heap.initialPages;
    return pages - heap.foreign;
  };
  const instantiateCore = async (m: WebAssembly.Module, imports: Record<string, Record<string, unknown>>) => {
    const inst = await WebAssembly.instantiate(m, {
      ...imports,
      ...nn.coreImports(m),
      [INTERRUPT_MODULE]: { [INTERRUPT_NAME]: interrupt, [MEMORY_SIZE_NAME]: memorySize },
    });
    for (const v of Object.values(inst.exports)) if (v instanceof WebAssembly.Memory) memories.push(v);
    nn.observe(m, inst);
    if (WebAssembly.Module.imports(m).some((i) => i.module === INTERRUPT_MODULE && i.name === MEMORY_SIZE_NAME)) {
      heap.memory = inst.exports.memory as WebAssembly.Memory;
      heap.initialPages = heap.memory.buffer.byteLength / WASM_PAGE_SIZE;
    }
    return inst;
  };

  const timings: WorkerTimings = { receivedAt, preloaded: !!warm, importMs: t1 - t0, instantiateMs: 0, enteredAt: 0 };
  const classify = (e: unknown): WorkerOutcome => {
    if (e instanceof WasiExit) return { kind: "exit", code: e.code };
    if (e instanceof LimitExceeded) return { kind: "limit", limit: e.limit, message: e.message };
    if (e instanceof Interrupted) return { kind: "error", message: e.message };
    const message = e instanceof Error ? `${e.name}: ${e.message}` : `guest returned an error: ${String(e)}`;
    if (e instanceof WebAssembly.RuntimeError || e instanceof RangeError) return { kind: "trap", message };
    if (!(e instanceof Error)) return { kind: "exit", code: 1 };
    return { kind: "error", message };
  };
  // A guest that fails after filling its memory to the cap ran out of memory (malloc saw the
  // engine refuse memory.grow): report the limit rather than its own exit or trap.
  const nearMemoryCap = () => {
    const margin = Math.max(req.memoryBytes / 16, 16 * WASM_PAGE_SIZE);
    return memories.some((m) => m.buffer.byteLength >= req.memoryBytes - margin);
  };
  const finish = (o: WorkerOutcome): WorkerOutcome => {
    const abnormal = o.kind === "trap" || o.kind === "error" || (o.kind === "exit" && o.code !== 0);
    if (abnormal && nearMemoryCap()) {
      return {
        kind: "limit",
        limit: "memory",
        message: `memory limit reached: the guest used its ${req.memoryBytes}-byte cap and then failed (${describe(o)})`,
      };
    }
    return o;
  };

  let exports: Record<string, unknown>;
  try {
    exports = await mod.instantiate(getCoreModule, host.imports, instantiateCore);
  } catch (e) {
    if (e instanceof LimitExceeded) return { outcome: classify(e), timings };
    if (e instanceof RangeError && /memory/i.test(e.message)) {
      return { outcome: { kind: "limit", limit: "memory", message: `memory limit: ${e.message}` }, timings };
    }
    return { outcome: finish(classify(e)), timings };
  }
  timings.instantiateMs = performance.now() - t1;

  try {
    timings.enteredAt = epochNow();
    post({ type: "entered", timings });
    if (c.entry === "infer") {
      const infer = exports.infer as (input: string) => string;
      let answer: string;
      try {
        answer = infer(req.argv[1] ?? "");
      } catch (e) {
        if (e instanceof Error) throw e;
        // result::err(message): the guest's error for the caller.
        host.stderr.write(new TextEncoder().encode(`${String(e)}\n`));
        return { outcome: { kind: "exit", code: 1 }, timings };
      }
      const bytes = new TextEncoder().encode(answer);
      if (!req.resultsDir) throw new Error("inference run without a results directory");
      host.chargeWrite(bytes.length);
      writeFileSync(join(req.resultsDir, "results.txt"), bytes);
      return { outcome: { kind: "exit", code: 0 }, timings };
    }
    const runIface = (exports["wasi:cli/run@0.2.12"] ??
      Object.entries(exports).find(([k]) => k.startsWith("wasi:cli/run"))?.[1] ??
      exports.run) as { run(): void };
    runIface.run();
    return { outcome: { kind: "exit", code: 0 }, timings };
  } catch (e) {
    return { outcome: finish(classify(e)), timings };
  } finally {
    nn.close();
    for (const [fd] of fdSlots) {
      try {
        closeSync(fd);
      } catch {
        // closed already
      }
      fdClosed(fd);
    }
  }
}

function sizeOf(dir: string | undefined, name: string): number {
  if (!dir || name.includes("/") || name === ".." || name === ".") return 0;
  try {
    return statSync(join(dir, name)).size;
  } catch {
    return 0;
  }
}

function describe(o: WorkerOutcome): string {
  if (o.kind === "exit") return `exit code ${o.code}`;
  return o.message;
}

hostModule.then(
  () => post({ type: "ready" }),
  (e) => {
    throw e;
  },
);
