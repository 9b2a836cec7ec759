// Chooses the agent's evidence provider (AGENT_ATTESTATION) and checks, at boot, that the launch
// evidence binds this manifest (Cocos v0.4: SNP HOST_DATA = SHA3-256 of the manifest JSON).
import { createProvider, detectProvider, SimProvider } from "../attestation/providers/index.ts";
import type { Evidence, EvidenceProvider, ProviderKind } from "../attestation/providers/types.ts";
import { signedEvidence } from "../attestation/report-data.ts";
import { equalBytes, fromHex, toHex } from "../protocol/hash.ts";
import type { GuestLink } from "../protocol/host-channel/links.ts";
import type { AttestationMode } from "./config.ts";

/** Evidence made by the host on the guest's behalf (the QEMU backend's simulated SNP report). */
export class HostReportProvider implements EvidenceProvider {
  constructor(private readonly link: GuestLink, readonly kind: ProviderKind = "sim") {}
  async getEvidence(reportData: Uint8Array): Promise<Evidence> {
    const data = await this.link.requestReport(reportData);
    return { kind: this.kind, data, source: "host-channel", simulated: this.kind === "sim" };
  }
}

export interface ProviderChoice {
  mode: AttestationMode;
  vmpl: number;
  manifestHash: Uint8Array;
  simStateDir?: string;
  simMeasurement?: string;
  link?: GuestLink | null;
}

export function chooseProvider(c: ProviderChoice): EvidenceProvider | null {
  switch (c.mode) {
    case "none":
      return null;
    case "sim":
      return new SimProvider({ stateDir: c.simStateDir, hostData: c.manifestHash, measurement: c.simMeasurement ? fromHex(c.simMeasurement) : undefined, vmpl: c.vmpl });
    case "host":
      if (!c.link) throw new Error("AGENT_ATTESTATION=host needs a host channel (AGENT_HOST_CHANNEL)");
      return new HostReportProvider(c.link);
    case "snp":
    case "tdx":
      return createProvider(c.mode, { vmpl: c.vmpl });
    case "auto":
      return detectProvider({ vmpl: c.vmpl }) ?? null;
  }
}

const HOST_DATA_OFFSET = 0xc0;

/**
 * For SNP-shaped evidence produced outside this process: HOST_DATA must be the manifest hash. An
 * all-zero HOST_DATA means the launch did not bind any manifest and is reported, not fatal.
 */
export async function checkManifestBinding(p: EvidenceProvider, manifestHash: Uint8Array, computationId: string): Promise<"bound" | "unbound" | "skipped"> {
  if (p instanceof SimProvider || p.kind === "tdx") return "skipped"; // in-process sim sets it itself; TDX binds via MRCONFIGID
  const ev = await signedEvidence(p, "manifest-binding", new TextEncoder().encode(computationId));
  const hostData = ev.data.subarray(HOST_DATA_OFFSET, HOST_DATA_OFFSET + 32);
  if (hostData.length !== 32) throw new Error(`evidence too short (${ev.data.length} bytes) to carry HOST_DATA`);
  if (hostData.every((b) => b === 0)) return "unbound";
  if (!equalBytes(hostData, manifestHash)) {
    throw new Error(`manifest verification failed: launch HOST_DATA is ${toHex(hostData)}, SHA3-256 of the received manifest is ${toHex(manifestHash)}`);
  }
  return "bound";
}
