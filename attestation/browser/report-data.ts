// The labelled report-data digest (attestation/report-data.ts) without a server runtime: the
// console's attestation page computes what the agent's Attestation RPC signs for the nonce it drew,
// and the agent computes the same bytes with the same code. @noble/hashes only (no node:, no Bun).
import { sha3_512 } from "@noble/hashes/sha3.js";
import { padReportData } from "../providers/types.ts";

export const REPORT_LABELS = {
  /** Attested TLS certificate: fields SPKI DER, client nonce (from the SNI). */
  atls: "cocos-atls-v1",
  /** The Attestation RPC: field the caller's TEE nonce, zero-padded to 64 bytes. */
  "attestation-rpc": "cocos-attestation-rpc-v1",
  /** Reserved: evidence handed to a key broker (Trustee attest step). */
  kbs: "cocos-kbs-v1",
  /** The enclave's upload public key: fields the caller's nonce (padded to 64), the key, SHA3-256 of the TLS SPKI (upload-key.ts). */
  "upload-key": "cocos-upload-key-v1",
  /** The agent's boot-time self-check of the manifest binding: field the computation id. */
  "manifest-binding": "cocos-manifest-binding-v1",
} as const;

export type ReportContext = keyof typeof REPORT_LABELS;

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** The 64-byte report data of `context` over `fields`: SHA3-512 over the length-prefixed label and fields. */
export function reportData(context: ReportContext, ...fields: Uint8Array[]): Uint8Array {
  const h = sha3_512.create();
  for (const part of [new TextEncoder().encode(REPORT_LABELS[context]), ...fields]) {
    h.update(u32(part.byteLength));
    h.update(part);
  }
  return h.digest();
}

/** The RPC's caller nonce is zero-padded to 64 bytes first (Cocos semantics; > 64 bytes is an error). */
export const rpcReportData = (teeNonce: Uint8Array) => reportData("attestation-rpc", padReportData(teeNonce));
