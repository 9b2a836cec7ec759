// Backend selection (MANAGER_BACKEND=process|qemu|auto). Each backend registers a factory here.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { VmBackend } from "../backend.ts";
import type { ManagerConfig } from "../config.ts";
import { ProcessBackend, agentCommand } from "./process.ts";

export type BackendFactory = (cfg: ManagerConfig) => VmBackend | Promise<VmBackend>;

export const BACKENDS: Record<string, BackendFactory> = {
  process: (cfg) =>
    new ProcessBackend({ vmsDir: join(cfg.stateDir, "vms"), agentArgv: cfg.agentBin ? agentCommand({ MANAGER_AGENT_BIN: cfg.agentBin }) : undefined }),
};

/** "auto": qemu when it is registered and reports itself usable, else process. */
export async function createBackend(cfg: ManagerConfig, available: (name: string) => boolean = defaultAvailable): Promise<{ backend: VmBackend; reason: string }> {
  let name: string = cfg.backend;
  let reason = `MANAGER_BACKEND=${cfg.backend}`;
  if (name === "auto") {
    name = BACKENDS.qemu && available("qemu") ? "qemu" : "process";
    reason = name === "qemu" ? "auto: a guest image and QEMU are present" : "auto: no guest image or no QEMU, using the process backend";
  }
  const f = BACKENDS[name];
  if (!f) throw new Error(`backend ${JSON.stringify(name)} is not available in this build (have: ${Object.keys(BACKENDS).join(", ")})`);
  return { backend: await f(cfg), reason };
}

function defaultAvailable(name: string): boolean {
  if (name !== "qemu") return true;
  const img = process.env.MANAGER_QEMU_DISK_IMG_KERNEL_FILE ?? join(process.cwd(), "images", "out");
  return existsSync(img) && Bun.which(process.env.MANAGER_QEMU_BIN_PATH || "qemu-system-x86_64") !== null;
}
