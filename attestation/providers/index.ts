// Provider selection: configfs-tsm when the kernel has it, /dev/sev-guest for SNP otherwise, and
// `sim` only when asked for (or nothing else exists and the caller allows it).
import { existsSync, readdirSync } from "node:fs";
import { ConfigfsTsmProvider, CONFIGFS_TSM_ROOT, type ConfigfsOptions } from "./configfs.ts";
import { SevGuestProvider, SEV_GUEST_DEVICE } from "./sevguest.ts";
import { SimProvider, type SimOptions } from "./sim.ts";
import type { EvidenceProvider, ProviderKind } from "./types.ts";

export * from "./types.ts";
export { ConfigfsTsmProvider, SevGuestProvider, SimProvider };

export interface ProviderOptions {
  configfs?: ConfigfsOptions;
  sim?: SimOptions;
  vmpl?: number;
  sevGuestDevice?: string;
}

function configfsAvailable(root: string): boolean {
  try {
    return existsSync(root) && readdirSync(root) !== undefined;
  } catch {
    return false;
  }
}

/** The provider this machine offers, or `sim` when `allowSim` and there is no TEE. */
export function detectProvider(opts: ProviderOptions & { allowSim?: boolean } = {}): EvidenceProvider | undefined {
  const root = opts.configfs?.root ?? CONFIGFS_TSM_ROOT;
  if (configfsAvailable(root)) {
    try {
      return new ConfigfsTsmProvider({ privlevel: opts.vmpl, ...opts.configfs, root });
    } catch {}
  }
  if (existsSync(opts.sevGuestDevice ?? SEV_GUEST_DEVICE)) return new SevGuestProvider(opts.vmpl ?? 0, opts.sevGuestDevice);
  return opts.allowSim ? new SimProvider(opts.sim) : undefined;
}

/** A provider of the requested kind; throws with what exists when the machine can't serve it. */
export function createProvider(kind: ProviderKind, opts: ProviderOptions = {}): EvidenceProvider {
  if (kind === "sim") return new SimProvider(opts.sim);
  const root = opts.configfs?.root ?? CONFIGFS_TSM_ROOT;
  if (configfsAvailable(root)) {
    const p = new ConfigfsTsmProvider({ privlevel: opts.vmpl, ...opts.configfs, root });
    if (p.kind === kind) return p;
    throw new Error(`attestation: ${kind} requested, but configfs-tsm at ${root} serves ${p.kind}`);
  }
  if (kind === "snp" && existsSync(opts.sevGuestDevice ?? SEV_GUEST_DEVICE)) return new SevGuestProvider(opts.vmpl ?? 0, opts.sevGuestDevice);
  throw new Error(`attestation: ${kind} requested, but this machine has neither ${root} nor ${kind === "snp" ? SEV_GUEST_DEVICE : "a TDX guest device"} (use "sim" for a simulated report)`);
}
