// `bun run wasm -- run [--dir HOST::GUEST]... [--env NAME=VALUE]... FILE [ARGS...]`: runs a Wasm
// component or preview-1 module like `wasmtime run`, stdio passed through, exit status = the guest's.
// Embedded by the CLI as `cocos-cli wasm run`.

import { basename, join, resolve } from "node:path";
import { AlgorithmError, DEFAULT_LIMITS, type RunLimits } from "./types.ts";
import { configureCache, runWasm } from "./wasm-engine.ts";
import type { PreopenSpec } from "./wasi-fs.ts";

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

function fail(msg: string): never {
  throw new UsageError(`${msg}\n${USAGE}`);
}
export class UsageError extends Error {}

export function parseArgs(argv: string[]): ParsedCommand {
  const a = [...argv];
  if (a[0] === "--") a.shift();
  if (a[0] !== "run") fail(`expected the subcommand "run", got ${JSON.stringify(a[0] ?? "")}`);
  a.shift();
  const preopens: PreopenSpec[] = [];
  const env: Record<string, string> = {};
  const limits: Partial<RunLimits> = {};
  let cacheDir = defaultCacheDir();
  while (a.length > 0 && a[0]!.startsWith("-")) {
    const opt = a.shift()!;
    if (opt === "--") break;
    const eq = opt.indexOf("=");
    const [name, inline] = eq > 0 ? [opt.slice(0, eq), opt.slice(eq + 1)] : [opt, undefined];
    const value = () => inline ?? a.shift() ?? fail(`${name} needs a value`);
    switch (name) {
      case "--dir": {
        const parts = value().split("::");
        const host = parts[0]!;
        const guest = parts[1] ?? host;
        const ro = parts[2] === "ro" || parts[2] === "readonly";
        if (!host) fail("--dir needs HOST[::GUEST]");
        preopens.push({ hostPath: resolve(host), guestPath: guest, readOnly: ro });
        break;
      }
      case "--env": {
        const v = value();
        const eq = v.indexOf("=");
        if (eq <= 0) fail(`--env expects NAME=VALUE, got ${JSON.stringify(v)}`);
        env[v.slice(0, eq)] = v.slice(eq + 1);
        break;
      }
      case "--timeout":
        limits.timeoutMs = Number(value());
        break;
      case "--max-memory":
        limits.memoryBytes = Number(value());
        break;
      case "--cache-dir":
        cacheDir = resolve(value());
        break;
      case "--no-cache":
        cacheDir = undefined;
        break;
      default:
        fail(`unknown option ${name}`);
    }
  }
  const file = a.shift() ?? fail("missing FILE");
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isFinite(v) || (v as number) <= 0) fail(`${k} must be a positive number`);
  }
  return { file, args: a, preopens, env, limits, cacheDir };
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
