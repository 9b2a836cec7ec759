// The bubblewrap command line of a sandboxed native run (pure: paths in, argv out).
//
// bwrap runs as the agent (root) without a user namespace: only then can it bind the agent's 0700
// work directories, and the sandbox stays in the initial user namespace, where the algorithm is the
// real unprivileged uid 65534 (RLIMIT_NPROC applies, no file it does not own is writable, no
// namespace it could own). bwrap keeps CAP_SETUID/SETGID/SETPCAP for exactly one step, `setpriv`
// inside the sandbox, which switches to 65534, clears the groups, the inheritable and bounding sets
// and then execs the algorithm: after that the process has no capability at all (and bwrap has set
// no-new-privileges, so no set-uid file or file capability can bring one back). New user namespaces
// are refused by the seccomp filter instead of being entered.
import { lstatSync, readlinkSync } from "node:fs";

export const SANDBOX_UID = 65534;
export const SANDBOX_GID = 65534;
/** The child's fd that carries the seccomp program (Bun passes stdio[3] as fd 3). */
export const SECCOMP_FD = 3;
/** The child's fd bwrap writes {"child-pid": …} to: the sandbox's PID 1 as the agent sees it. */
export const INFO_FD = 4;

/** Where things appear inside the sandbox; the root is an empty read-only tmpfs besides these. */
export const INSIDE = { algorithm: "/algo", datasets: "/datasets", results: "/results", tmp: "/tmp", cwd: "/" } as const;

/** System directories an algorithm may need (interpreters, shared libraries), bound read-only. */
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/** The only files of /etc bound: the dynamic loader's cache and the alternatives symlinks (awk, …). */
const SYSTEM_ETC = ["/etc/ld.so.cache", "/etc/alternatives"];

export interface Mount {
  source: string;
  dest: string;
}

export interface SandboxLayout {
  bwrap: string;
  /** setpriv as seen inside the sandbox (it must lie under a bound system directory). */
  setpriv: string;
  algorithm: string;
  datasetsDir: string;
  resultsDir: string;
  /** Further read-only binds (a python venv, an interpreter outside /usr). */
  readOnly?: Mount[];
  /** Size cap of each private tmpfs (/tmp, /dev/shm); their pages are memory outside RLIMIT_AS. */
  tmpBytes: number;
  /** Program and arguments, as paths inside the sandbox. */
  cmd: string[];
}

/** Binds of the system directories that exist here; a symlinked one (merged /usr) stays a symlink. */
export function systemBinds(dirs: string[] = SYSTEM_DIRS, etc: string[] = SYSTEM_ETC): string[] {
  const args: string[] = [];
  for (const dir of dirs) {
    let isLink: boolean;
    try {
      isLink = lstatSync(dir).isSymbolicLink();
    } catch {
      continue;
    }
    args.push(...(isLink ? ["--symlink", readlinkSync(dir), dir] : ["--ro-bind", dir, dir]));
  }
  // /etc itself is made here: bwrap would copy a mode that uid 65534 may not be able to search.
  args.push("--perms", "0755", "--dir", "/etc");
  for (const file of etc) args.push("--ro-bind-try", file, file);
  return args;
}

/**
 * Read-only binds, each destination's parents made first as 0755: bwrap would otherwise create them
 * with the host parents' modes (/root is 0700), hiding the bind from uid 65534.
 */
function readOnlyBinds(mounts: Mount[]): string[] {
  const made = new Set<string>();
  const args: string[] = [];
  for (const m of mounts) {
    const parts = m.dest.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const parent = `/${parts.slice(0, i).join("/")}`;
      if (made.has(parent)) continue;
      made.add(parent);
      args.push("--perms", "0755", "--dir", parent);
    }
    args.push("--ro-bind", m.source, m.dest);
  }
  return args;
}

export function bwrapArgv(layout: SandboxLayout, system: string[] = systemBinds()): string[] {
  return [
    layout.bwrap,
    // Fresh PID, network (only lo), IPC, UTS and cgroup namespaces; a fresh mount namespace always.
    "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
    "--hostname", "cocos-algorithm",
    // The sandbox dies with the agent; when its PID 1 goes, the kernel kills every process in it.
    "--die-with-parent",
    // setsid(): no controlling terminal to push input into (TIOCSTI).
    "--new-session",
    "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
    ...system,
    "--proc", "/proc",
    "--dev", "/dev",
    "--perms", "1777", "--size", String(layout.tmpBytes), "--tmpfs", INSIDE.tmp,
    // POSIX shared memory and semaphores (python multiprocessing) need a writable /dev/shm.
    "--perms", "1777", "--size", String(layout.tmpBytes), "--tmpfs", "/dev/shm",
    "--ro-bind", layout.algorithm, INSIDE.algorithm,
    "--ro-bind", layout.datasetsDir, INSIDE.datasets,
    "--bind", layout.resultsDir, INSIDE.results,
    ...readOnlyBinds(layout.readOnly ?? []),
    "--remount-ro", "/",
    "--chdir", INSIDE.cwd,
    "--seccomp", String(SECCOMP_FD),
    "--info-fd", String(INFO_FD),
    "--",
    layout.setpriv, `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_GID}`, "--clear-groups",
    "--inh-caps=-all", "--bounding-set=-all", "--",
    ...layout.cmd,
  ];
}
