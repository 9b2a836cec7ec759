// wasmtime (the WASI reference implementation) through its Python embedding, as the oracle of the
// differential and conformance tests and a contender in the runtime benchmark. The venv lives at
// .cache/venv-wasmtime (scripts/test-all.sh creates it; so does the first caller here), or wherever
// COCOS_WASMTIME_PYTHON points.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

const WASMTIME_PY_VERSION = "49.0.0";
const ROOT = join(dirname(new URL(import.meta.url).pathname), "..", "..");
const VENV = join(ROOT, ".cache", "venv-wasmtime");
/** Runs a module or command component like `wasmtime run --dir H::G --env K=V FILE ARGS`. */
export const WASMTIME_RUN = join(dirname(new URL(import.meta.url).pathname), "wasmtime_run.py");

let located: Promise<{ python: string } | { missing: string }> | undefined;

/** The venv's python with wasmtime importable, creating the venv once if needed; or why not. */
export function wasmtimePython(): Promise<{ python: string } | { missing: string }> {
  located ??= locate();
  return located;
}

/**
 * For the tests that compare with wasmtime: its python, or why it is missing. A run that requires the
 * reference (COCOS_REQUIRE_WASMTIME=1, set by scripts/test-all.sh, i.e. CI) fails instead of skipping.
 */
export async function wasmtimeForTests(): Promise<{ python: string } | { missing: string }> {
  const w = await wasmtimePython();
  if ("missing" in w && process.env.COCOS_REQUIRE_WASMTIME === "1") throw new Error(`wasmtime (the WASI reference) is required here (COCOS_REQUIRE_WASMTIME=1) but unavailable: ${w.missing}`);
  return w;
}

async function sh(cmd: string[]): Promise<{ code: number; err: string }> {
  const p = Bun.spawn(cmd, { stdout: "ignore", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  return { code, err };
}

async function locate(): Promise<{ python: string } | { missing: string }> {
  const python = process.env.COCOS_WASMTIME_PYTHON || join(VENV, "bin", "python");
  const importable = async () => existsSync(python) && (await sh([python, "-c", "import wasmtime"])).code === 0;
  if (await importable()) return { python };
  if (process.env.COCOS_WASMTIME_PYTHON) return { missing: `${python} cannot import wasmtime` };
  const venv = await sh(["python3", "-m", "venv", VENV]);
  if (venv.code !== 0) return { missing: `python3 -m venv failed: ${venv.err.trim().slice(-300)}` };
  const pip = await sh([join(VENV, "bin", "pip"), "install", "-q", `wasmtime==${WASMTIME_PY_VERSION}`]);
  if (pip.code !== 0) return { missing: `pip install wasmtime==${WASMTIME_PY_VERSION} failed: ${pip.err.trim().slice(-300)}` };
  return (await importable()) ? { python } : { missing: `${python} still cannot import wasmtime` };
}

export interface ProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs FILE under wasmtime with the given preopens (host, guest), args and cwd. */
export async function runUnderWasmtime(
  python: string,
  file: string,
  opts: { args?: string[]; dirs?: [string, string][]; env?: Record<string, string>; cwd?: string },
): Promise<ProcessRun> {
  const cmd = [python, WASMTIME_RUN];
  for (const [host, guest] of opts.dirs ?? []) cmd.push("--dir", `${host}::${guest}`);
  for (const [k, v] of Object.entries(opts.env ?? {})) cmd.push("--env", `${k}=${v}`);
  cmd.push(file, ...(opts.args ?? []));
  const p = Bun.spawn(cmd, { cwd: opts.cwd, stdout: "pipe", stderr: "pipe", env: {} });
  const [code, stdout, stderr] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, stdout, stderr };
}
