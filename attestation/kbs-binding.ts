// The Trustee KBS protocol's payloads (kbs/docs/kbs_attestation_protocol.md, RCAR) and how the
// agent's evidence binds them. Trustee puts SHA-384(JCS(runtime-data)) straight into REPORT_DATA;
// we hash that digest once more under the `cocos-kbs-v1` label (report-data.ts), so a KBS report can
// never pass for an attested-TLS or Attestation-RPC report and vice versa. The price: a stock
// Trustee attestation service does not accept our evidence (it would not parse our evidence envelope
// either); our KBS (console/kbs/) does, and the resource step (JWE ECDH-ES+A256KW / A256GCM) is Trustee's.
import { createHash } from "node:crypto";
import { reportData, signedEvidence } from "./report-data.ts";
import type { Evidence, EvidenceProvider, ProviderKind } from "./providers/types.ts";

export const KBS_PROTOCOL_VERSION = "0.1.1";
export const KBS_SESSION_COOKIE = "kbs-session-id";
/** The key-wrapping and content algorithms of a resource reply (what Cocos's pkg/crypto/decrypt.go reads). */
export const KBS_JWE_ALG = "ECDH-ES+A256KW";
export const KBS_JWE_ENC = "A256GCM";

export interface KbsRequest {
  version: string;
  tee: string;
  "extra-params": Record<string, unknown> | string;
}

export interface KbsChallenge {
  nonce: string;
  "extra-params": Record<string, unknown> | string;
}

export interface EcPublicJwk {
  kty: "EC";
  crv: string;
  alg?: string;
  x: string;
  y: string;
}

export interface KbsRuntimeData {
  nonce: string;
  "tee-pubkey": EcPublicJwk;
}

/** Our evidence envelope inside `tee-evidence.primary_evidence`. */
export interface CocosPrimaryEvidence {
  format: "cocos-v1";
  kind: ProviderKind;
  /** base64 of the evidence bytes (SNP/sim report ‖ cert table, or the TDX quote). */
  evidence: string;
}

export interface KbsAttestation {
  "runtime-data": KbsRuntimeData;
  "tee-evidence": { primary_evidence: CocosPrimaryEvidence; additional_evidence: string };
}

/** RFC 8785 canonical JSON for the values runtime data holds (objects, arrays, strings, numbers, booleans). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(v as object)
    .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
}

/** Trustee's runtime-data hash for SNP/TDX: SHA-384 over the canonical JSON. */
export function runtimeDataDigest(rd: KbsRuntimeData): Uint8Array {
  return new Uint8Array(createHash("sha384").update(canonicalJson(rd)).digest());
}

/** The report data a KBS attest step carries (what our KBS expects). */
export const kbsReportData = (rd: KbsRuntimeData) => reportData("kbs", runtimeDataDigest(rd));

/** Evidence for a KBS attest step, through the one labelled path. */
export function kbsEvidence(provider: EvidenceProvider, rd: KbsRuntimeData): Promise<Evidence> {
  return signedEvidence(provider, "kbs", runtimeDataDigest(rd));
}

/** Trustee's TEE name for our evidence kinds (sim evidence is SNP-shaped). */
export const teeName = (kind: ProviderKind) => (kind === "tdx" ? "tdx" : "snp");
