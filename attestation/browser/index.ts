// The attestation verifier for the browser: the same SNP/sim and TDX checks as the server
// (snp/checks.ts, tdx/checks.ts), with WebCrypto and @noble/hashes as the crypto backend. The page
// passes evidence it fetched through an untrusted console and the run's policy; nothing here
// trusts the console. Bundle with buildVerifierBundle() (build.ts); no node:* reaches the bundle.
import { clearSignatureMemo } from "../crypto/backend.ts";
import { webCryptoBackend } from "../crypto/webcrypto.ts";
import { fromHex } from "../encoding.ts";
import { parsePolicy, type AttestationPolicy } from "../policy-json.ts";
import { padReportData } from "../providers/types.ts";
import { verifySnpWith } from "../snp/checks.ts";
import { detectEvidenceKind } from "../tdx/quote.ts";
import { verifyTdxWith } from "../tdx/checks.ts";
import type { TdxCollateral } from "../tdx/collateral.ts";
import { CheckList, type Verdict } from "../verdict.ts";

export type { Check, Verdict, EvidenceKind } from "../verdict.ts";
export type { AttestationPolicy } from "../policy-json.ts";
export { detectEvidenceKind };

export interface BrowserVerifyOptions {
  /** Expected report data (≤ 64 bytes, zero-padded; hex or bytes), overriding the policy's. */
  expectedReportData?: Uint8Array | string;
  /** Verification time (Date or ISO string); default now. Pin it to check old evidence. */
  at?: Date | string;
  /** SNP: a VCEK/VLEK (DER) when the evidence carries none. */
  vcek?: Uint8Array;
  /** TDX: Intel PCS collateral and CRLs (DER). */
  collateral?: TdxCollateral;
  crls?: Uint8Array[];
}

let backend: ReturnType<typeof webCryptoBackend> | undefined;

/** Forgets imported keys and memoized chain signatures (to measure a cold verification). */
export function resetVerifierCaches() {
  backend = undefined;
  clearSignatureMemo();
}

/** Verifies evidence (SNP/sim report ‖ certificate table, or a TDX quote) against a policy; never throws. */
export async function verifyEvidenceInBrowser(evidence: Uint8Array, policy: string | AttestationPolicy, opts: BrowserVerifyOptions = {}): Promise<Verdict> {
  const kind = detectEvidenceKind(evidence);
  let pol: AttestationPolicy;
  let at: Date | undefined;
  let expectedReportData: Uint8Array | undefined;
  try {
    pol = typeof policy === "string" ? parsePolicy(policy) : policy;
    at = opts.at === undefined ? undefined : new Date(opts.at);
    if (at && Number.isNaN(at.getTime())) throw new Error(`verification time: expected an ISO time, got ${JSON.stringify(opts.at)}`);
    const rd = opts.expectedReportData;
    expectedReportData = rd === undefined ? undefined : padReportData(typeof rd === "string" ? fromHex(rd) : rd);
  } catch (e) {
    const c = new CheckList(kind);
    c.fail(`${kind}.policy_invalid`, (e as Error).message);
    return c.verdict(false, {});
  }
  backend ??= webCryptoBackend();
  if (kind === "tdx") return verifyTdxWith(evidence, { policy: pol, at, expectedReportData, collateral: opts.collateral, crls: opts.crls }, backend);
  return verifySnpWith(evidence, { policy: pol, at, expectedReportData, vcek: opts.vcek }, { crypto: backend });
}
