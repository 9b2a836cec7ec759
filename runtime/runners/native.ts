// Starts a native (bin, python) algorithm: inside the sandbox (runtime/sandbox) when it is available,
// refused when it is not, and unsandboxed only when the operator opted out (AGENT_UNSANDBOXED_NATIVE).
import { resolve } from "node:path";
import {
  bwrapArgv, closeFd, grantSandboxAccess, nativeIsolation, openInfoFd, openSeccompFd, reclaimResults, sandboxInit, type Mount,
} from "../sandbox/index.ts";
import type { RunLimits, RunOutcome, RunSpec } from "../types.ts";
import { awaitGone, runProcess } from "./process.ts";

/** Processes uid 65534 may have at once (RLIMIT_NPROC counts them across the machine). */
export const SANDBOX_NPROC = 512;
export const SANDBOX_NOFILE = 1024;

export interface NativeCommand {
  /** Program and arguments inside the sandbox: the algorithm is INSIDE.algorithm, cwd "/". */
  sandboxed: { cmd: string[]; env: Record<string, string>; readOnly?: Mount[] };
  /** The same without a sandbox (opt-out only): host paths, cwd the work directory. */
  unsandboxed: { cmd: string[]; env: Record<string, string> };
  /** The algorithm file is executed itself (bin) rather than read by an interpreter (python). */
  executable: boolean;
}

/** Why native algorithms cannot run here (no sandbox and no opt-out), or null. */
export function nativeUnavailable(): string | null {
  const isolation = nativeIsolation();
  return isolation.kind === "refused" ? isolation.reason : null;
}

/** rlimits of a sandboxed run besides the address space and file size (limitWrapper adds those). */
export function sandboxRlimits(limits: RunLimits): string[] {
  const cpuSeconds = Math.ceil(limits.timeoutMs / 1000);
  return [`--nproc=${SANDBOX_NPROC}`, `--nofile=${SANDBOX_NOFILE}`, `--cpu=${cpuSeconds}:${cpuSeconds + 1}`];
}

export async function runNative(spec: RunSpec, limits: RunLimits, command: NativeCommand): Promise<RunOutcome> {
  const isolation = nativeIsolation();
  const base = { cwd: spec.workDir, limits, resultsDir: spec.resultsDir, onLog: spec.onLog, signal: spec.signal };
  if (isolation.kind === "refused") return { kind: "error", message: isolation.reason, durationMs: 0 };
  if (isolation.kind === "unsandboxed") {
    console.warn(`[cocos-agent] ${isolation.warning}`);
    spec.onLog?.("stderr", `[cocos-agent] ${isolation.warning}`);
    return runProcess({ ...base, cmd: command.unsandboxed.cmd, env: command.unsandboxed.env });
  }
  const algorithm = resolve(spec.algorithmPath);
  try {
    await grantSandboxAccess({ algorithm, datasetsDir: spec.datasetsDir, resultsDir: spec.resultsDir, executable: command.executable });
  } catch (err) {
    return { kind: "error", message: `cannot prepare the sandbox: ${(err as Error).message}`, durationMs: 0 };
  }
  let seccomp = -1;
  let info = -1;
  try {
    seccomp = openSeccompFd();
    info = openInfoFd();
  } catch (err) {
    closeFd(seccomp);
    return { kind: "error", message: `cannot prepare the sandbox: ${(err as Error).message}`, durationMs: 0 };
  }
  try {
    const { tools } = isolation;
    const argv = bwrapArgv({
      bwrap: tools.bwrap,
      setpriv: tools.setpriv,
      algorithm,
      datasetsDir: resolve(spec.datasetsDir),
      resultsDir: resolve(spec.resultsDir),
      readOnly: command.sandboxed.readOnly,
      tmpBytes: limits.maxResultsBytes,
      cmd: command.sandboxed.cmd,
    });
    return await runProcess({
      ...base,
      cmd: argv,
      env: command.sandboxed.env,
      rlimits: sandboxRlimits(limits),
      fds: [seccomp, info],
      statusEncodesSignal: true,
    });
  } finally {
    // bwrap reports the exit before its PID 1 has finished killing the namespace: wait for that.
    const init = sandboxInit(info);
    if (init !== null) await awaitGone(init);
    closeFd(seccomp);
    closeFd(info);
    // Best effort: the agent (root) reads 65534's files anyway; a failure here must not hide the outcome.
    await reclaimResults(spec.resultsDir).catch(() => {});
  }
}
