// Domain separation of every report the agent asks the secure processor to sign. Each interface
// hashes a label of its own with its inputs, so evidence produced for one purpose can never pass
// as evidence for another: an Attestation RPC answer (caller-chosen nonce) is not an attested-TLS
// certificate binding, a KBS request is not an upload key, and so on.
//
//   report_data = SHA3-512( u32be(len(label)) ‖ label ‖ u32be(len(f1)) ‖ f1 ‖ … )
//
// Every label and every field is length-prefixed, so no context's inputs can be arranged to equal
// another context's encoding (e.g. a nonce that starts with another label's bytes).
import { equalBytes, sha3_512 } from "../protocol/hash.ts";
import type { Evidence, EvidenceProvider } from "./providers/types.ts";

// One implementation for the agent and the browser (the console's attestation page): browser/report-data.ts.
import { reportData, rpcReportData, type ReportContext } from "./browser/report-data.ts";
export { REPORT_LABELS, reportData, rpcReportData, type ReportContext } from "./browser/report-data.ts";

export const atlsReportData = (spkiDer: Uint8Array, nonce: Uint8Array) => reportData("atls", spkiDer, nonce);

/**
 * The only way agent code asks a provider for evidence: the report data is always a labelled
 * digest, never caller-chosen bytes. (The RPC passes its nonce already padded: `padReportData`.)
 */
export function signedEvidence(provider: EvidenceProvider, context: ReportContext, ...fields: Uint8Array[]): Promise<Evidence> {
  return provider.getEvidence(reportData(context, ...fields));
}

/** Pre-v1 aTLS binding, SHA3-512(SPKI ‖ nonce) without a label: still recognised, never accepted. */
export const unlabelledAtlsBinding = (spkiDer: Uint8Array, nonce: Uint8Array) => {
  const joined = new Uint8Array(spkiDer.byteLength + nonce.byteLength);
  joined.set(spkiDer);
  joined.set(nonce, spkiDer.byteLength);
  return sha3_512(joined);
};

export interface Misbinding {
  /** Which purpose the evidence was really produced for. */
  producedFor: ReportContext | "unlabelled";
  detail: string;
}

/**
 * When aTLS evidence does not carry the aTLS binding: is it what another interface would have
 * produced over the same key and nonce (a relay that asked the Attestation RPC, or an agent that
 * signs caller-chosen data)? Names the case, so the refusal says what happened.
 */
export function explainAtlsMisbinding(actual: Uint8Array, spkiDer: Uint8Array, nonce: Uint8Array): Misbinding | undefined {
  const legacy = unlabelledAtlsBinding(spkiDer, nonce);
  const viaRpc = [legacy, atlsReportData(spkiDer, nonce), nonce.byteLength <= 64 ? nonce : undefined].filter((x): x is Uint8Array => !!x);
  if (viaRpc.some((tee) => equalBytes(actual, rpcReportData(tee)))) {
    return { producedFor: "attestation-rpc", detail: "evidence was produced for the Attestation RPC, not for attested TLS (a relay asked the agent for evidence over its own key)" };
  }
  if (equalBytes(actual, legacy)) {
    return { producedFor: "unlabelled", detail: "evidence carries the unlabelled SHA3-512(SPKI ‖ nonce) binding (signed caller-chosen data, e.g. an older agent's Attestation RPC), not the attested-TLS label cocos-atls-v1" };
  }
  return undefined;
}
