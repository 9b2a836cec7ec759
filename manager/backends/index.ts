// Backend selection (MANAGER_BACKEND=process|qemu|auto). Each backend registers a factory here.
import { join } from "node:path";
import type { VmBackend } from "../backend.ts";
import type { ManagerConfig } from "../config.ts";
import { ProcessBackend, agentCommand } from "./process.ts";
import { QemuBackend } from "./qemu.ts";

export type BackendFactory = (cfg: ManagerConfig) => VmBackend | Promise<VmBackend>;

export const BACKENDS: Record<string, BackendFactory> = {
  process: (cfg) =>
    new ProcessBackend({ vmsDir: join(cfg.stateDir, "vms"), agentArgv: cfg.agentBin ? agentCommand({ MANAGER_AGENT_BIN: cfg.agentBin }) : undefined }),
  qemu: (cfg) => new QemuBackend({ vmsDir: join(cfg.stateDir, "vms") }),
};

/** Why qemu cannot be used here, or undefined when it can (QEMU, kernel and initramfs present). */
export type Availability = (name: string) => string | undefined;

/** "auto": qemu when it is registered and its preflight passes, else process (with the reason). */
export async function createBackend(cfg: ManagerConfig, unavailable: Availability = defaultUnavailable): Promise<{ backend: VmBackend; reason: string }> {
  let name: string = cfg.backend;
  let reason = `MANAGER_BACKEND=${cfg.backend}`;
  if (name === "auto") {
    const why = BACKENDS.qemu ? unavailable("qemu") : "the qemu backend is not in this build";
    name = why === undefined ? "qemu" : "process";
    reason = why === undefined ? "auto: QEMU, a guest kernel and an initramfs are present" : `auto: using the process backend (${why})`;
  }
  const f = BACKENDS[name];
  if (!f) throw new Error(`backend ${JSON.stringify(name)} is not available in this build (have: ${Object.keys(BACKENDS).join(", ")})`);
  return { backend: await f(cfg), reason };
}

function defaultUnavailable(name: string): string | undefined {
  if (name !== "qemu") return undefined;
  try {
    new QemuBackend({ vmsDir: "" }).preflight();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
