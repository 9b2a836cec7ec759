// Runs a preview-1 module on Bun's own node:wasi, outside the project's runtime (no component
// adapter, no Worker, no loop instrumentation): the benchmark's "engine only" baseline, which tells
// the JavaScriptCore codegen cost apart from the runtime's overhead.
// `bun bench/engine-baseline.ts FILE [ARGS...]`; stdio goes straight to this process's fds.
import { WASI } from "node:wasi";

class Exit {
  constructor(readonly code: number) {}
}

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error("usage: bun bench/engine-baseline.ts FILE.wasm [ARGS...]");
  process.exit(2);
}
const wasi = new WASI({ version: "preview1", args: [file, ...args], env: {}, preopens: {} });
const module = await WebAssembly.compile(await Bun.file(file).arrayBuffer());
// Bun's proc_exit ends the whole process without flushing (oven-sh/bun PR #34474): throw instead.
const imports = { ...wasi.wasiImport, proc_exit: (code: number) => { throw new Exit(code); } };
const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: imports });
try {
  wasi.start(instance);
} catch (e) {
  if (!(e instanceof Exit)) throw e;
  process.exitCode = e.code;
}
