// Bookkeeping shared by the backends whose VM is one host process (the agent itself, or QEMU): the
// table of running VMs, TTL timers, liveness polling of adopted pids (they are not our children, so
// no exit event arrives), and stop = SIGTERM → grace → SIGKILL.
import type { ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { pidAlive, type VmInfo } from "../backend.ts";

export interface TrackedVm {
  info: VmInfo;
  child?: ChildProcess;
  poll?: ReturnType<typeof setInterval>;
  ttl?: ReturnType<typeof setTimeout>;
  stopping: boolean;
  exited: Promise<void>;
  markExited: () => void;
}

export interface TableHooks<T extends TrackedVm> {
  /** Called when a VM's TTL passes. */
  stop(id: string): Promise<void>;
  /** Called once when a VM's process is gone (exit event, failed liveness poll, or stop). */
  finish(t: T, code: number | null, signal: string | null): void;
}

export class VmProcessTable<T extends TrackedVm> {
  private vms = new Map<string, T>();

  constructor(private readonly hooks: TableHooks<T>) {}

  list(): VmInfo[] {
    return [...this.vms.values()].map((t) => t.info);
  }
  get(id: string): T | undefined {
    return this.vms.get(id);
  }
  has(id: string): boolean {
    return this.vms.has(id);
  }

  /** Adds a VM; `extend` adds the backend's own fields. Arms the TTL when the VM has one. */
  track(info: VmInfo, child: ChildProcess | undefined, extend: (base: TrackedVm) => T): T {
    let markExited!: () => void;
    const exited = new Promise<void>((r) => (markExited = r));
    const t = extend({ info, child, stopping: false, exited, markExited });
    if (info.expiresAt) {
      t.ttl = setTimeout(() => void this.hooks.stop(info.id).catch(() => {}), Math.max(0, info.expiresAt - Date.now()));
      t.ttl.unref?.();
    }
    this.vms.set(info.id, t);
    return t;
  }

  /** Polls the pid every `ms` (adopted VMs, or a stop in progress) and finishes the VM when it is gone. */
  watchPid(t: T, ms: number): void {
    if (t.poll) clearInterval(t.poll);
    t.poll = setInterval(() => {
      if (!pidAlive(t.info.pid)) this.hooks.finish(t, null, null);
    }, ms);
  }

  /** SIGTERM, up to `graceMs` for the process to go, then SIGKILL; then the VM is finished. */
  async terminate(t: T, graceMs: number, kill: (sig: NodeJS.Signals) => void): Promise<void> {
    t.stopping = true;
    kill("SIGTERM");
    if (!t.child) this.watchPid(t, 50);
    const done = await Promise.race([t.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
    if (!done) {
      kill("SIGKILL");
      await Promise.race([t.exited, Bun.sleep(5000)]);
    }
    if (this.vms.get(t.info.id) === t) this.hooks.finish(t, null, done ? "SIGTERM" : "SIGKILL");
  }

  /** Forgets `t` and resolves its `exited`; false when it was already released. */
  release(t: T): boolean {
    if (this.vms.get(t.info.id) !== t) return false;
    this.clearTimers(t);
    this.vms.delete(t.info.id);
    t.markExited();
    return true;
  }

  /** Forgets every VM without touching its process (they outlive the manager). */
  detachAll(each: (t: T) => void = () => {}): void {
    for (const t of this.vms.values()) {
      this.clearTimers(t);
      each(t);
    }
    this.vms.clear();
  }

  private clearTimers(t: T): void {
    if (t.poll) clearInterval(t.poll);
    if (t.ttl) clearTimeout(t.ttl);
  }
}

/** The last `max` bytes of a log file as text ("" when it cannot be read). */
export function readTail(path: string, max: number): string {
  try {
    const buf = readFileSync(path);
    return buf.subarray(Math.max(0, buf.length - max)).toString("utf8").trim();
  } catch {
    return "";
  }
}

/**
 * Removes a VM's directory, but only one of ours: a state file names it, and a state file can be
 * corrupt or planted, so the directory must be `<vmsDir>/<vm id>` and nothing else.
 */
export function removeVmWorkDir(vmsDir: string, info: VmInfo): void {
  const dir = resolve(info.workDir);
  if (dirname(dir) !== resolve(vmsDir) || basename(dir) !== info.id) return;
  rmSync(dir, { recursive: true, force: true });
}
