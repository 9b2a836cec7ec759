// `python` algorithms, as Cocos runs them: `<runtime> -m venv venv` in the work directory,
// `venv/bin/python -m pip install -r <requirements>` when requirements were uploaded, then
// `venv/bin/python ./algo <args...>`; the venv is removed afterwards. The script runs inside the
// native sandbox (native.ts) with the venv bound read-only; the venv and pip steps run before it,
// outside, as the agent's tools.
import { realpathSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { INSIDE, type Mount } from "../sandbox/index.ts";
import type { RunLimits, RunOutcome, Runner, RunSpec } from "../types.ts";
import { DEFAULT_LIMITS } from "../types.ts";
import { resolveLimits } from "./limits.ts";
import { nativeUnavailable, runNative } from "./native.ts";
import { MINIMAL_PATH, algorithmEnv, runProcess } from "./process.ts";

/** Where the run's venv appears inside the sandbox (read-only; CPython finds pyvenv.cfg next to bin/). */
const VENV_INSIDE = "/venv";

/** `python_runtime` comes from the uploader: only interpreter names are accepted, never a path or a command. */
const RUNTIME_NAME = /^python3(\.\d{1,2})?$/;

const interpreters = new Map<string, Promise<string>>();

/**
 * The real interpreter behind a runtime name on the agent's PATH (resolving shims such as pyenv's),
 * checked to have the venv and ensurepip modules. Rejects with the reason otherwise.
 */
export function resolveInterpreter(runtime: string): Promise<string> {
  let found = interpreters.get(runtime);
  if (!found) {
    found = probe(runtime);
    interpreters.set(runtime, found);
  }
  return found;
}

async function probe(runtime: string): Promise<string> {
  if (!RUNTIME_NAME.test(runtime)) throw new Error(`python runtime: expected a name like python3 or python3.11, got "${runtime}"`);
  const onPath = Bun.which(runtime);
  if (!onPath) throw new Error(`python runtime ${runtime} not found on PATH`);
  const proc = Bun.spawn({
    cmd: [onPath, "-c", "import sys, venv, ensurepip; print(sys.executable)"],
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
  const executable = out.trim();
  if (code !== 0 || !executable) {
    throw new Error(`${runtime} -m venv unavailable: ${err.trim().split("\n").at(-1) ?? `exit ${code}`}`);
  }
  return executable;
}

/**
 * Environment of the set-up steps (venv, pip): these run the agent's own tools, so the agent's pip
 * configuration (HOME for the user pip.conf, PIP_* such as a local index) applies. The algorithm
 * itself never sees it.
 */
function toolEnv(): Record<string, string> {
  const env: Record<string, string> = { PATH: MINIMAL_PATH, HOME: process.env.HOME ?? "/root" };
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && (name.startsWith("PIP_") || name === "XDG_CONFIG_HOME")) env[name] = value;
  }
  return env;
}

/** True when the requirements file names at least one requirement (blank lines and comments do not count). */
async function hasRequirements(path: string): Promise<boolean> {
  const text = await readFile(path, "utf8");
  return text.split("\n").some((line) => line.replace(/#.*/, "").trim() !== "");
}

export const pythonRunner: Runner = {
  type: "python",
  async unavailable() {
    try {
      await resolveInterpreter("python3");
    } catch (err) {
      return (err as Error).message;
    }
    return nativeUnavailable();
  },
  async run(spec: RunSpec): Promise<RunOutcome> {
    const limits = resolveLimits(spec);
    let interpreter: string;
    let install: boolean;
    try {
      interpreter = await resolveInterpreter(spec.pythonRuntime || "python3");
      install = spec.requirementsPath !== undefined && (await hasRequirements(spec.requirementsPath));
    } catch (err) {
      return { kind: "error", message: (err as Error).message, durationMs: 0 };
    }
    const venv = join(spec.workDir, "venv");
    const python = join(venv, "bin", "python");
    // Set-up steps get the run's timeout each but at least the default memory cap (pip needs it).
    const setupLimits: RunLimits = { ...limits, memoryBytes: Math.max(limits.memoryBytes, DEFAULT_LIMITS.memoryBytes) };
    const setup = (what: string, cmd: string[]) => setupStep(what, cmd, spec, setupLimits);
    try {
      const created = await setup("error creating virtual environment", [
        interpreter, "-m", "venv", ...(install ? [] : ["--without-pip"]), venv,
      ]);
      if (created) return created;
      if (install) {
        const installed = await setup("error installing requirements", [
          python, "-m", "pip", "install", "--no-input", "-r", resolve(spec.requirementsPath!),
        ]);
        if (installed) return installed;
      }
      return await runNative(spec, limits, {
        sandboxed: {
          cmd: [join(VENV_INSIDE, "bin", "python"), INSIDE.algorithm, ...spec.args],
          env: { VIRTUAL_ENV: VENV_INSIDE, ...algorithmEnv(spec, INSIDE.tmp, `${join(VENV_INSIDE, "bin")}:${MINIMAL_PATH}`) },
          readOnly: [{ source: venv, dest: VENV_INSIDE }, ...interpreterBinds(interpreter)],
        },
        unsandboxed: {
          cmd: [python, resolve(spec.algorithmPath), ...spec.args],
          env: { VIRTUAL_ENV: venv, ...algorithmEnv(spec, spec.workDir, `${join(venv, "bin")}:${MINIMAL_PATH}`) },
        },
        executable: false,
      });
    } finally {
      await rm(venv, { recursive: true, force: true });
    }
  },
};

/** The interpreter's installation when it lies outside /usr (e.g. pyenv), bound read-only at its own path. */
function interpreterBinds(interpreter: string): Mount[] {
  const prefix = dirname(dirname(realpathSync(interpreter)));
  return prefix === "/usr" || prefix.startsWith("/usr/") ? [] : [{ source: prefix, dest: prefix }];
}

/** Runs a set-up step; null when it succeeded, else the outcome that ends the run. */
async function setupStep(what: string, cmd: string[], spec: RunSpec, limits: RunLimits): Promise<RunOutcome | null> {
  const tail: string[] = [];
  const outcome = await runProcess({
    cmd,
    cwd: spec.workDir,
    env: toolEnv(),
    limits,
    signal: spec.signal,
    onLog: (stream, line) => {
      spec.onLog?.(stream, line);
      if (stream !== "stderr" || !line.trim()) return;
      tail.push(line);
      if (tail.length > 4) tail.shift();
    },
  });
  if (outcome.kind === "exit" && outcome.code === 0) return null;
  const detail = tail.length ? `: ${tail.join(" | ")}` : "";
  switch (outcome.kind) {
    case "exit":
      return { kind: "error", message: `${what}: exit status ${outcome.code}${detail}`, durationMs: outcome.durationMs };
    case "error":
    case "trap":
      return { kind: "error", message: `${what}: ${outcome.message}${detail}`, durationMs: outcome.durationMs };
    default:
      return { ...outcome, message: `${what}: ${outcome.message}` };
  }
}
