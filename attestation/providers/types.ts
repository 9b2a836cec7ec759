// Evidence providers (agent side). Evidence bytes: SNP/sim = report ‖ optional certificate table
// (like Cocos's attestation.bin); TDX = the DCAP quote.

export type ProviderKind = "snp" | "tdx" | "sim";

export interface Evidence {
  kind: ProviderKind;
  data: Uint8Array;
  /** Where it came from: "configfs-tsm:sev_guest", "sev-guest-ioctl", "sim", … */
  source: string;
  simulated: boolean;
}

export interface EvidenceProvider {
  kind: ProviderKind;
  /** reportData: exactly 64 bytes (shorter input is zero-padded by `padReportData`). */
  getEvidence(reportData: Uint8Array): Promise<Evidence>;
}

/** Cocos semantics: the TEE nonce is zero-padded to 64 bytes; longer is an error. */
export function padReportData(d: Uint8Array): Uint8Array {
  if (d.length > 64) throw new Error(`report data: expected at most 64 bytes, got ${d.length}`);
  const out = new Uint8Array(64);
  out.set(d);
  return out;
}
