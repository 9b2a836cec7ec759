// Builds every example offline into examples/dist/:
//   NAME.wasm            preview-1 core module   (Debian clang, wasm32-wasi, -O2 -msimd128)
//   NAME.component.wasm  preview-2 component     (the module + jco's preview-1 command adapter)
//   native/NAME          native binary           (cc -O2, the same C source)
//   JS.component.wasm    componentize-js against a cocos:computation world
// Incremental: each output records a hash of its inputs and command in dist/.stamps.json and is
// rebuilt only when that hash changes or the file is missing.
//
// `bun examples/build.ts [--force] [--skip-js] [NAME...]`

import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const ROOT = dirname(new URL(import.meta.url).pathname);
export const EXAMPLES_DIR = ROOT;
export const DIST_DIR = join(ROOT, "dist");
export const NATIVE_DIR = join(DIST_DIR, "native");
export const DATA_DIR = join(ROOT, "data");
const WIT_DIR = join(ROOT, "..", "wit");
const STAMPS = join(DIST_DIR, ".stamps.json");

/** C programs (examples/c/NAME.c). `kernel` ones are the benchmark's compute kernels. */
export const C_PROGRAMS = ["addition", "iris-train", "iris-inference", "matmul", "kmeans", "sha256"] as const;
export type CProgram = (typeof C_PROGRAMS)[number];
export const KERNELS: readonly CProgram[] = ["matmul", "kmeans", "sha256"];
/** C programs using wasi-nn (examples/c/NAME.c): a preview-1 module only, the runtime wraps it at upload. */
export const NN_PROGRAMS = ["iris-nn", "vad-nn"] as const;

/** JS components (examples/js/SOURCE.js) and the cocos:computation world each targets. */
export const JS_COMPONENTS = [
  { name: "dataset-stats", source: "dataset-stats.js", world: "batch" },
  { name: "iris-infer-js", source: "iris-infer.js", world: "inference" },
] as const;
export type JsComponent = (typeof JS_COMPONENTS)[number]["name"];

const JS_DISABLED_FEATURES = ["http", "fetch-event"] as const;

export const WASM_CFLAGS = ["--target=wasm32-wasi", "-O2", "-msimd128"];
/** Linked into every Wasm build: the canonical-ABI allocator Debian's wasi-libc lacks (see the file). */
const CABI_REALLOC = join(ROOT, "c", "cabi-realloc.c");
export const NATIVE_CFLAGS = ["-O2"];

export const paths = {
  wasm: (name: CProgram) => join(DIST_DIR, `${name}.wasm`),
  component: (name: CProgram | JsComponent) => join(DIST_DIR, `${name}.component.wasm`),
  native: (name: CProgram) => join(NATIVE_DIR, name),
};

export interface BuildStep {
  output: string;
  /** "built" or "up-to-date". */
  status: "built" | "up-to-date";
  ms: number;
}

export interface BuildOptions {
  /** Rebuild everything. */
  force?: boolean;
  /** Only these example names (C or JS); default all. */
  only?: string[];
  /** Skip the (slow, ~10–40 s each) JS components. */
  skipJs?: boolean;
  log?: (line: string) => void;
}

type Stamps = Record<string, string>;

function loadStamps(): Stamps {
  try {
    return JSON.parse(readFileSync(STAMPS, "utf8")) as Stamps;
  } catch {
    return {};
  }
}

function hashInputs(files: string[], command: string[]): string {
  const h = new Bun.CryptoHasher("sha256");
  h.update(command.join("\0"));
  for (const f of files) h.update(`\0${relative(ROOT, f)}\0`).update(readFileSync(f));
  return h.digest("hex");
}

function filesUnder(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p, ext));
    else if (e.name.endsWith(ext)) out.push(p);
  }
  return out;
}

async function run(cmd: string[]): Promise<void> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited with ${code}:\n${err}`);
}

let preopensSet = false;
/** componentize-js reads the WIT through preview2-shim, which (≥0.26) starts with no preopens. */
async function componentizeJs(source: string, world: string): Promise<Uint8Array> {
  if (!preopensSet) {
    // The Node build of the shim takes host paths; the typings describe the browser build.
    const shim = (await import("@bytecodealliance/preview2-shim/filesystem")) as unknown as {
      _setPreopens(preopens: Record<string, string>): void;
    };
    shim._setPreopens({ "/": "/" });
    preopensSet = true;
  }
  const { componentize } = await import("@bytecodealliance/componentize-js");
  // No wasi:http: a computation has no network, and the runtime does not offer it.
  const { component } = await componentize({
    sourcePath: source,
    witPath: WIT_DIR,
    worldName: world,
    disableFeatures: [...JS_DISABLED_FEATURES],
  });
  return component;
}

async function adapterBytes(): Promise<Uint8Array> {
  const { preview1AdapterCommandPath } = await import("@bytecodealliance/jco");
  return new Uint8Array(readFileSync(preview1AdapterCommandPath()));
}

/** Builds what is out of date; returns one step per output. Throws on the first failure. */
export async function buildExamples(opts: BuildOptions = {}): Promise<BuildStep[]> {
  const log = opts.log ?? (() => {});
  mkdirSync(NATIVE_DIR, { recursive: true });
  const stamps = loadStamps();
  const steps: BuildStep[] = [];
  const want = (name: string) => !opts.only || opts.only.includes(name);

  // Every step: output path, inputs, command key, and how to make it.
  const jobs: { output: string; inputs: string[]; key: string[]; make: () => Promise<void> }[] = [];
  const headers = filesUnder(join(ROOT, "c"), ".h");
  const adapterPath = (await import("@bytecodealliance/jco")).preview1AdapterCommandPath().pathname;
  for (const name of C_PROGRAMS.filter(want)) {
    const src = join(ROOT, "c", `${name}.c`);
    const wasmCmd = ["clang", ...WASM_CFLAGS, src, CABI_REALLOC, "-o", paths.wasm(name)];
    const nativeCmd = ["cc", ...NATIVE_CFLAGS, src, "-o", paths.native(name), "-lm"];
    jobs.push({ output: paths.wasm(name), inputs: [src, CABI_REALLOC, ...headers], key: wasmCmd, make: () => run(wasmCmd) });
    jobs.push({ output: paths.native(name), inputs: [src, ...headers], key: nativeCmd, make: () => run(nativeCmd) });
    jobs.push({
      output: paths.component(name),
      inputs: [paths.wasm(name), adapterPath],
      key: ["component-new", "wasi_snapshot_preview1"],
      make: async () => {
        const { componentNew } = await import("@bytecodealliance/jco-transpile/wasm-tools");
        const bytes = await componentNew(new Uint8Array(readFileSync(paths.wasm(name))), [
          ["wasi_snapshot_preview1", await adapterBytes()],
        ]);
        writeFileSync(paths.component(name), bytes);
      },
    });
  }
  for (const name of NN_PROGRAMS.filter(want)) {
    const out = join(DIST_DIR, `${name}.wasm`);
    const cmd = ["clang", ...WASM_CFLAGS, join(ROOT, "c", `${name}.c`), "-o", out];
    jobs.push({ output: out, inputs: [join(ROOT, "c", `${name}.c`), ...headers], key: cmd, make: () => run(cmd) });
  }
  if (want("iris-nn")) {
    // The wasi:nn component: the module imports the WIT interfaces directly; embed + adapter.
    const src = join(ROOT, "c", "iris-nn-component.c");
    const wit = join(ROOT, "c", "iris-nn.wit");
    const core = join(DIST_DIR, "iris-nn-component.core.wasm");
    const cmd = ["clang", ...WASM_CFLAGS, src, CABI_REALLOC, "-o", core];
    jobs.push({
      output: join(DIST_DIR, "iris-nn.component.wasm"),
      inputs: [src, CABI_REALLOC, wit, ...headers, adapterPath],
      key: [...cmd, "embed", "iris-nn", "component-new"],
      make: async () => {
        await run(cmd);
        const { componentEmbed, componentNew } = await import("@bytecodealliance/jco-transpile/wasm-tools");
        const embedded = await componentEmbed({ binary: new Uint8Array(readFileSync(core)), witSource: readFileSync(wit, "utf8"), world: "iris-nn" });
        writeFileSync(join(DIST_DIR, "iris-nn.component.wasm"), await componentNew(embedded, [["wasi_snapshot_preview1", await adapterBytes()]]));
      },
    });
  }
  if (!opts.skipJs) {
    const jsDeps = filesUnder(join(ROOT, "js"), ".js");
    const wit = filesUnder(WIT_DIR, ".wit");
    for (const c of JS_COMPONENTS.filter((c) => want(c.name))) {
      jobs.push({
        output: paths.component(c.name),
        inputs: [...jsDeps, ...wit],
        key: ["componentize-js", c.source, c.world, ...JS_DISABLED_FEATURES],
        make: async () => writeFileSync(paths.component(c.name), await componentizeJs(join(ROOT, "js", c.source), c.world)),
      });
    }
  }

  // The C steps are ordered module → component, so run them in sequence per program but let the
  // (independent) native compile overlap: two lanes match the two cores CI has.
  const runJob = async (job: (typeof jobs)[number]) => {
    const t = performance.now();
    const stamp = hashInputs(job.inputs, job.key);
    if (!opts.force && existsSync(job.output) && stamps[relative(ROOT, job.output)] === stamp) {
      steps.push({ output: job.output, status: "up-to-date", ms: performance.now() - t });
      return;
    }
    log(`building ${relative(ROOT, job.output)}`);
    await job.make();
    stamps[relative(ROOT, job.output)] = stamp;
    writeFileSync(STAMPS, JSON.stringify(stamps, null, 2));
    steps.push({ output: job.output, status: "built", ms: performance.now() - t });
  };
  const native = jobs.filter((j) => j.output.startsWith(NATIVE_DIR));
  const rest = jobs.filter((j) => !j.output.startsWith(NATIVE_DIR));
  await Promise.all([
    (async () => {
      for (const j of rest) await runJob(j);
    })(),
    (async () => {
      for (const j of native) await runJob(j);
    })(),
  ]);
  return steps;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const force = args.includes("--force");
  const only = args.filter((a) => !a.startsWith("--"));
  const t = performance.now();
  const skipJs = args.includes("--skip-js");
  const steps = await buildExamples({ force, skipJs, only: only.length ? only : undefined, log: (l) => console.log(l) });
  const built = steps.filter((s) => s.status === "built").length;
  console.log(
    `examples: ${built} built, ${steps.length - built} up to date in ${((performance.now() - t) / 1000).toFixed(1)} s → ${relative(process.cwd(), DIST_DIR) || "."}`,
  );
}
