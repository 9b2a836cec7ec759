// `bun run wasm -- run [--dir HOST::GUEST]... [--env NAME=VALUE]... FILE [ARGS...]`: runs a Wasm
// component or preview-1 module like `wasmtime run`, stdio passed through, exit status = the guest's.
// Embedded by the CLI as `cocos-cli wasm run`.

import { basename, join, resolve } from "node:path";
import { Command, CommanderError } from "commander";
import { AlgorithmError, DEFAULT_LIMITS, type RunLimits } from "./types.ts";
import { configureCache, runWasm, warmup } from "./wasm-engine.ts";
import type { PreopenSpec } from "./wasi/filesystem.ts";

const USAGE = `usage: wasm run [--dir HOST[::GUEST][::ro]]... [--env NAME=VALUE]... [--timeout MS]
                [--max-memory BYTES] [--cache-dir DIR | --no-cache] FILE [ARGS...]`;

/** Transpiled components persist here between invocations (like wasmtime's compilation cache). */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.COCOS_WASM_CACHE) return env.COCOS_WASM_CACHE;
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, ".cache") : undefined);
  return base ? join(base, "cocos-wasm") : undefined;
}

export interface ParsedCommand {
  file: string;
  args: string[];
  preopens: PreopenSpec[];
  env: Record<string, string>;
  limits: Partial<RunLimits>;
  /** Directory for the transpile cache; undefined = no disk cache. */
  cacheDir: string | undefined;
}

class UsageError extends Error {}

function fail(msg: string): never {
  throw new UsageError(`${msg}\n${USAGE}`);
}

const collect = (v: string, prev: string[]) => [...prev, v];
const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) fail(`${name} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
};

interface RunFlags {
  dir: string[];
  env: string[];
  timeout?: number;
  maxMemory?: number;
  cacheDir?: string;
  cache: boolean;
}

/** `wasm run` declared with commander, the CLI's parser; everything after FILE goes to the guest. */
function declare(onRun: (file: string, args: string[], flags: RunFlags) => void): Command {
  const program = new Command("wasm")
    .exitOverride()
    .enablePositionalOptions()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  program
    .command("run")
    .description("run a Wasm component or preview-1 module like `wasmtime run`")
    .option("--dir <HOST[::GUEST][::ro]>", "preopen a host directory (repeatable)", collect, [])
    .option("--env <NAME=VALUE>", "set a guest environment variable (repeatable)", collect, [])
    .option("--timeout <ms>", "wall-clock limit", positive("--timeout"))
    .option("--max-memory <bytes>", "linear memory cap", positive("--max-memory"))
    .option("--cache-dir <dir>", "transpile cache directory")
    .option("--no-cache", "no transpile cache on disk")
    .argument("[file]", "the component or module")
    .argument("[args...]", "the guest's arguments")
    .passThroughOptions()
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .action((file: string | undefined, args: string[], flags: RunFlags) => onRun(file ?? fail("missing FILE"), args, flags));
  return program;
}

export function parseArgs(argv: string[]): ParsedCommand {
  const a = argv[0] === "--" ? argv.slice(1) : argv;
  if (a[0] !== "run") fail(`expected the subcommand "run", got ${JSON.stringify(a[0] ?? "")}`);
  let parsed: ParsedCommand | undefined;
  try {
    declare((file, args, flags) => {
      const preopens = flags.dir.map((spec): PreopenSpec => {
        const [host, guest, mode] = spec.split("::");
        if (!host) fail("--dir needs HOST[::GUEST]");
        return { hostPath: resolve(host), guestPath: guest || host, readOnly: mode === "ro" || mode === "readonly" };
      });
      const env: Record<string, string> = {};
      for (const v of flags.env) {
        const eq = v.indexOf("=");
        if (eq <= 0) fail(`--env expects NAME=VALUE, got ${JSON.stringify(v)}`);
        env[v.slice(0, eq)] = v.slice(eq + 1);
      }
      const limits: Partial<RunLimits> = {};
      if (flags.timeout !== undefined) limits.timeoutMs = flags.timeout;
      if (flags.maxMemory !== undefined) limits.memoryBytes = flags.maxMemory;
      const cacheDir = !flags.cache ? undefined : flags.cacheDir ? resolve(flags.cacheDir) : defaultCacheDir();
      parsed = { file, args, preopens, env, limits, cacheDir };
    }).parse(a, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) fail(e.message.replace(/^error: /, ""));
    throw e;
  }
  return parsed ?? fail("missing FILE");
}

/** Returns the exit status for the process: the guest's code, or 1 for traps/limits/errors (125 for usage). */
export async function main(argv: string[]): Promise<number> {
  let cmd: ParsedCommand;
  try {
    cmd = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  // Boot the run Worker while the file is read and hashed (a one-shot command has nothing else to do).
  warmup({ transpiler: false });
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await Bun.file(cmd.file).arrayBuffer());
  } catch (e) {
    process.stderr.write(`cannot read ${cmd.file}: ${(e as Error).message}\n`);
    return 2;
  }
  if (cmd.cacheDir) configureCache({ dir: cmd.cacheDir });
  try {
    const o = await runWasm(bytes, {
      argv: [basename(cmd.file), ...cmd.args],
      env: cmd.env,
      preopens: cmd.preopens,
      // A local command has no implicit caps beyond the defaults, but no 10-minute timeout either.
      limits: { ...DEFAULT_LIMITS, timeoutMs: 24 * 3600_000, maxStdioBytes: Number.MAX_SAFE_INTEGER, ...cmd.limits },
      onStdout: (d) => process.stdout.write(d),
      onStderr: (d) => process.stderr.write(d),
      resultsDir: cmd.preopens.find((p) => p.guestPath === "/results")?.hostPath,
      // wasi-nn load_by_name resolves names here (the directory mapped to /datasets).
      datasetsDir: cmd.preopens.find((p) => p.guestPath === "/datasets")?.hostPath,
    });
    if (o.kind === "exit") return o.code;
    process.stderr.write(`wasm: ${o.kind === "limit" ? `limit ${o.limit}: ` : `${o.kind}: `}${o.message}\n`);
    return o.kind === "trap" ? 134 : 1;
  } catch (e) {
    if (e instanceof AlgorithmError) {
      process.stderr.write(`wasm: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  process.exit(code);
}
