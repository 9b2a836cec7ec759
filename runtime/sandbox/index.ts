// Isolation of native (bin, python) algorithms: bubblewrap namespaces, uid 65534 without
// capabilities, a seccomp filter and rlimits (see bwrap.ts, seccomp.ts). This module decides
// whether a native run may start at all and prepares the files a sandboxed run needs.
import { closeSync, openSync, readSync, unlinkSync, writeFileSync } from "node:fs";
import { chmod, chown, lchown, lstat, readdir } from "node:fs/promises";
import { constants } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SANDBOX_GID, SANDBOX_UID } from "./bwrap.ts";
import { encodeFilter, sandboxFilter } from "./seccomp.ts";

export { INFO_FD, INSIDE, SECCOMP_FD, bwrapArgv, type Mount, type SandboxLayout } from "./bwrap.ts";

/** The opt-out: native algorithms run without any sandbox, as the agent's own user. Insecure. */
export const UNSANDBOXED_ENV = "AGENT_UNSANDBOXED_NATIVE";

export interface SandboxTools {
  bwrap: string;
  setpriv: string;
  prlimit: string;
}

export type Isolation =
  | { kind: "sandbox"; tools: SandboxTools }
  | { kind: "unsandboxed"; warning: string }
  | { kind: "refused"; reason: string };

/** bubblewrap and util-linux's setpriv and prlimit on PATH, or the names of those missing. */
export function findSandboxTools(path = process.env.PATH ?? ""): SandboxTools | string[] {
  const found = { bwrap: Bun.which("bwrap", { PATH: path }), setpriv: Bun.which("setpriv", { PATH: path }), prlimit: Bun.which("prlimit", { PATH: path }) };
  const missing = Object.entries(found).filter(([, p]) => !p).map(([name]) => name);
  return missing.length ? missing : (found as SandboxTools);
}

/**
 * How native algorithms run here: sandboxed when the tools are present; otherwise refused, unless
 * the operator explicitly opted out with AGENT_UNSANDBOXED_NATIVE=true.
 */
export function nativeIsolation(env: Record<string, string | undefined> = process.env, uid = process.getuid?.() ?? -1): Isolation {
  const why = sandboxMissing(findSandboxTools(env.PATH ?? ""), uid);
  if (typeof why !== "string") return { kind: "sandbox", tools: why };
  if (env[UNSANDBOXED_ENV] === "true") {
    return {
      kind: "unsandboxed",
      warning: `WARNING: ${UNSANDBOXED_ENV}=true and ${why}: this native algorithm runs WITHOUT a sandbox, as the agent's user, with access to the agent's memory, keys and network (insecure)`,
    };
  }
  return {
    kind: "refused",
    reason: `native algorithms run only sandboxed and the sandbox is unavailable: ${why} (install bubblewrap and util-linux and run the agent as root, or set ${UNSANDBOXED_ENV}=true to run them unsandboxed, which is insecure)`,
  };
}

/** The tools when the sandbox can be built here, else why not. */
function sandboxMissing(tools: SandboxTools | string[], uid: number): SandboxTools | string {
  if (Array.isArray(tools)) return `${tools.join(", ")} not found on PATH`;
  // bwrap binds the agent's 0700 directories and setpriv switches to uid 65534: both need root.
  if (uid !== 0) return `the agent runs as uid ${uid}, not root (the sandbox switches the algorithm to uid ${SANDBOX_UID})`;
  return tools;
}

/** An unlinked temp file holding data, open with flags: an fd to hand to bwrap and nothing on disk. */
function anonymousFile(what: string, data: Uint8Array, flags: "r" | "w+"): number {
  const path = join(tmpdir(), `cocos-${what}-${process.pid}-${crypto.randomUUID()}`);
  writeFileSync(path, data, { mode: 0o600, flag: "wx" });
  try {
    return openSync(path, flags);
  } finally {
    unlinkSync(path);
  }
}

/** The seccomp program, for `bwrap --seccomp`. */
export function openSeccompFd(): number {
  return anonymousFile("seccomp", encodeFilter(sandboxFilter()), "r");
}

/** An empty file for `bwrap --info-fd`. */
export function openInfoFd(): number {
  return anonymousFile("bwrap-info", new Uint8Array(0), "w+");
}

/** The sandbox's PID 1 (host pid) from what bwrap wrote to the info fd, or null if it wrote nothing. */
export function sandboxInit(infoFd: number): number | null {
  const buf = new Uint8Array(4096);
  const n = readSync(infoFd, buf, 0, buf.length, 0);
  try {
    const pid = (JSON.parse(new TextDecoder().decode(buf.subarray(0, n))) as { "child-pid"?: unknown })["child-pid"];
    return typeof pid === "number" && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** Applies fn to path and, for a directory, everything under it (symlinks are not followed). */
async function walk(path: string, fn: (path: string, isDir: boolean) => Promise<void>): Promise<void> {
  const st = await lstat(path);
  await fn(path, st.isDirectory());
  if (!st.isDirectory()) return;
  for (const entry of await readdir(path)) await walk(join(path, entry), fn);
}

/**
 * Lets the sandbox user in: the algorithm and datasets become readable by group 65534 only (the
 * agent stores them 0600), the results directory becomes 65534's own. Nothing else changes hands.
 */
export async function grantSandboxAccess(p: { algorithm: string; datasetsDir: string; resultsDir: string; executable: boolean }): Promise<void> {
  await chown(p.algorithm, process.getuid!(), SANDBOX_GID);
  await chmod(p.algorithm, p.executable ? 0o750 : 0o640);
  await walk(p.datasetsDir, async (path, isDir) => {
    const st = await lstat(path);
    if (st.isSymbolicLink()) return;
    await chown(path, st.uid, SANDBOX_GID);
    await chmod(path, isDir ? 0o750 : 0o640);
  });
  await walk(p.resultsDir, (path) => lchown(path, SANDBOX_UID, SANDBOX_GID));
}

/** Gives everything the algorithm left under results back to the agent's user (symlinks not followed). */
export async function reclaimResults(resultsDir: string): Promise<void> {
  const uid = process.getuid!();
  const gid = process.getgid!();
  await walk(resultsDir, (path) => lchown(path, uid, gid));
}

/** bwrap exits with 128 + n when the sandboxed program died of signal n: that signal's name. */
export function signalOfStatus(code: number | null): NodeJS.Signals | null {
  if (code === null || code <= 128 || code > 128 + 64) return null;
  const entry = Object.entries(constants.signals).find(([, n]) => n === code - 128);
  return entry ? (entry[0] as NodeJS.Signals) : null;
}
