// Runs a preview-1 module on the host JS engine's own node:wasi, outside the project's runtime (no
// component adapter, no Worker, no loop instrumentation): the benchmark's "engine only" baseline.
// Plain JavaScript so that both `bun` (Bun's bare node:wasi) and `node` (Node's) run the same file.
// `bun|node bench/engine-baseline.mjs [--dir HOST::GUEST]... FILE [ARGS...]`; stdio is this process's.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";

class Exit {
  constructor(code) {
    this.code = code;
  }
}

const argv = process.argv.slice(2);
const preopens = {};
while (argv[0] === "--dir") {
  const [host, guest] = argv[1].split("::");
  preopens[guest ?? host] = host;
  argv.splice(0, 2);
}
const [file, ...args] = argv;
if (!file) {
  console.error("usage: bun|node bench/engine-baseline.mjs [--dir HOST::GUEST]... FILE.wasm [ARGS...]");
  process.exit(2);
}
const wasi = new WASI({ version: "preview1", args: [file, ...args], env: {}, preopens, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(file));
// Bun's proc_exit ends the whole process without flushing (oven-sh/bun PR #34474): throw instead.
const imports = { ...wasi.wasiImport, proc_exit: (code) => { throw new Exit(code); } };
const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: imports });
try {
  wasi.start(instance);
} catch (e) {
  if (!(e instanceof Exit)) throw e;
  process.exitCode = e.code;
}
