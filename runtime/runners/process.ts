// Runs a native program under the run limits: its own process group (killed as a whole), a
// minimal environment, stdio split into log lines under a byte cap, the results-size cap, a
// wall-clock timeout and abort. Shared by the bin and python runners.
import { readFileSync, readdirSync } from "node:fs";
import { signalOfStatus } from "../sandbox/index.ts";
import type { LimitKind, RunLimits, RunOutcome, RunSpec } from "../types.ts";
import { LineSplitter } from "./lines.ts";
import { resultsMessage, watchResultsSize } from "./results-watch.ts";

export const MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin";

/** How long to keep reading stdio after the process is gone (a child that escaped the group may hold it). */
const DRAIN_GRACE_MS = 1000;

export interface ProcessRun {
  /** Program and arguments; the program is exec'd directly (no shell). */
  cmd: string[];
  cwd: string;
  /** The complete environment of the program. */
  env: Record<string, string>;
  limits: RunLimits;
  /** When given, the results-size cap applies to this directory (poll + RLIMIT_FSIZE). */
  resultsDir?: string;
  onLog?: RunSpec["onLog"];
  signal?: AbortSignal;
  /** Further rlimits as prlimit options (e.g. --nproc=256); prlimit is then required. */
  rlimits?: string[];
  /** Open fds handed to the child as fd 3, 4, … (e.g. bwrap's seccomp program). */
  fds?: number[];
  /** The program is a wrapper (bwrap) that reports its child's death by signal n as exit status 128 + n. */
  statusEncodesSignal?: boolean;
}

/** The algorithm's environment: spec.env over a minimal PATH and HOME; nothing from the host. */
export function algorithmEnv(spec: Pick<RunSpec, "env">, home: string, path = MINIMAL_PATH): Record<string, string> {
  return { PATH: path, HOME: home, ...spec.env };
}

const prlimitPath = Bun.which("prlimit");

/**
 * The resource-limit wrapper: `prlimit --as --fsize` (util-linux) when present, else `sh -c ulimit -v`
 * (no file-size cap, since ulimit -f units differ between shells). RLIMIT_AS caps virtual address
 * space, not resident memory: best effort, and it ends allocation with ENOMEM/MemoryError rather than
 * with a distinguishable signal.
 */
export function limitWrapper(limits: RunLimits, fileSizeCap: boolean, rlimits: string[] = []): string[] {
  if (prlimitPath) {
    const args = [prlimitPath, `--as=${limits.memoryBytes}`, ...rlimits];
    if (fileSizeCap) args.push(`--fsize=${limits.maxResultsBytes}`);
    return [...args, "--"];
  }
  if (rlimits.length) throw new Error(`prlimit (util-linux) not found, needed for ${rlimits.join(" ")}`);
  const kib = Math.max(1, Math.floor(limits.memoryBytes / 1024));
  return ["/bin/sh", "-c", `ulimit -v ${kib} && exec "$@"`, "sh"];
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // group already gone
  }
}

/** True while a process of group pgid exists that is not a zombie (SIGKILL lands asynchronously). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z") return true;
    } catch {
      // exited while scanning
    }
  }
  return false;
}

/** True while the process exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Kills the group and waits (bounded) until its processes are gone, so none outlives the run. */
async function reapGroup(pgid: number): Promise<void> {
  killGroup(pgid);
  for (let waited = 0; waited < 2000 && groupAlive(pgid); waited += 10) {
    await Bun.sleep(10);
    killGroup(pgid);
  }
}

/** Waits (bounded) until a process that is not ours to kill is gone. */
export async function awaitGone(pid: number, maxMs = 2000): Promise<void> {
  for (let waited = 0; waited < maxMs && processAlive(pid); waited += 2) await Bun.sleep(2);
}

type Stop = { kind: "limit"; limit: LimitKind; message: string } | { kind: "aborted"; message: string };

export async function runProcess(run: ProcessRun): Promise<RunOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const { limits, signal } = run;
  if (signal?.aborted) return { kind: "aborted", message: "aborted before start", durationMs: 0 };

  let proc: ReturnType<typeof spawnPiped>;
  try {
    proc = spawnPiped([...limitWrapper(limits, run.resultsDir !== undefined, run.rlimits), ...run.cmd], run.cwd, run.env, run.fds);
  } catch (err) {
    return { kind: "error", message: `cannot start ${run.cmd[0]}: ${(err as Error).message}`, durationMs: elapsed() };
  }
  const pid = proc.pid;

  let stop: Stop | null = null;
  const halt = (reason: Stop) => {
    if (stop) return;
    stop = reason;
    killGroup(pid);
  };

  const timer = setTimeout(
    () => halt({ kind: "limit", limit: "timeout", message: `wall-clock limit of ${limits.timeoutMs} ms passed` }),
    limits.timeoutMs,
  );
  const onAbort = () => halt({ kind: "aborted", message: `aborted: ${String(signal?.reason ?? "stop requested")}` });
  signal?.addEventListener("abort", onAbort, { once: true });
  const watcher = run.resultsDir
    ? watchResultsSize(run.resultsDir, limits.maxResultsBytes, (size) =>
        halt({ kind: "limit", limit: "results-size", message: resultsMessage(size, limits.maxResultsBytes) }),
      )
    : null;

  let stdioBytes = 0;
  const readers = [proc.stdout.getReader(), proc.stderr.getReader()];
  const pump = async (reader: (typeof readers)[number], stream: "stdout" | "stderr") => {
    const lines = new LineSplitter((line) => run.onLog?.(stream, line));
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const room = limits.maxStdioBytes - stdioBytes;
        stdioBytes += value.length;
        if (value.length > room) {
          lines.push(value.subarray(0, Math.max(0, room)));
          halt({ kind: "limit", limit: "stdio-size", message: `stdout + stderr passed ${limits.maxStdioBytes} bytes` });
          await reader.cancel().catch(() => {});
          break;
        }
        lines.push(value);
      }
    } catch {
      // cancelled after the drain grace
    } finally {
      lines.flush();
    }
  };
  const pumps = Promise.all([pump(readers[0]!, "stdout"), pump(readers[1]!, "stderr")]);

  await proc.exited;
  clearTimeout(timer);
  signal?.removeEventListener("abort", onAbort);
  // Children left behind by the algorithm do not outlive the run.
  await reapGroup(pid);
  const drained = await Promise.race([pumps.then(() => true), Bun.sleep(DRAIN_GRACE_MS).then(() => false)]);
  if (!drained) {
    for (const reader of readers) await reader.cancel().catch(() => {});
    await pumps;
  }
  watcher?.stop();
  // A last look catches what was written after the final poll (check() calls halt()).
  if (!stop && watcher) await watcher.check();

  const durationMs = elapsed();
  const reason = stop as Stop | null;
  if (reason) return { ...reason, durationMs };
  const signalCode = proc.signalCode ?? (run.statusEncodesSignal ? signalOfStatus(proc.exitCode) : null);
  if (signalCode === "SIGXFSZ") {
    return {
      kind: "limit",
      limit: "results-size",
      message: `a file grew past the results cap of ${limits.maxResultsBytes} bytes (SIGXFSZ)`,
      durationMs,
    };
  }
  if (signalCode === "SIGXCPU") {
    return { kind: "limit", limit: "timeout", message: "CPU-time limit (RLIMIT_CPU, the wall-clock limit in CPU seconds) passed (SIGXCPU)", durationMs };
  }
  if (signalCode) return { kind: "trap", message: `terminated by signal ${signalCode}`, durationMs };
  return { kind: "exit", code: proc.exitCode ?? -1, durationMs };
}

function spawnPiped(cmd: string[], cwd: string, env: Record<string, string>, fds: number[] = []) {
  return Bun.spawn({ cmd, cwd, env, stdio: ["ignore", "pipe", "pipe", ...fds], detached: true });
}
