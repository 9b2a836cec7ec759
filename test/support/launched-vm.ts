// The VM a manager launched for a computation, as recorded in its state dir (tests of the QEMU backend).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { VmInfo } from "../../manager/backend.ts";
import { measureLaunch } from "../../manager/measurement.ts";

export interface LaunchedVm {
  info: VmInfo;
  /** The booted kernel, initramfs and full command line (the QEMU backend's extra). */
  boot: { kernel: string; initrd: string; cmdline: string; disk?: string };
  /** The sim launch measurement of exactly those files and that command line, in hex. */
  measurement: string;
}

export async function launchedVm(stateDir: string, computationId: string): Promise<LaunchedVm> {
  const info = readdirSync(stateDir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(stateDir, f), "utf8")) as VmInfo)
    .find((v) => v.computationId === computationId);
  if (!info) throw new Error(`no VM of computation ${computationId} in ${stateDir}`);
  const boot = info.extra as LaunchedVm["boot"];
  const m = await measureLaunch({ kernel: boot.kernel, initrd: boot.initrd, cmdline: boot.cmdline });
  return { info, boot, measurement: Buffer.from(m.measurement).toString("hex") };
}
