// What `cocos-cli attestation get|validate` and `policy …` call. The CLI owns argument parsing and
// the gRPC call; these functions own evidence handling, verification and output.
import { readFileSync } from "node:fs";
import { fromHex } from "./bytes.ts";
import { formatVerdict, verdictJson } from "./format.ts";
import { parsePolicy, type AttestationPolicy } from "./policy.ts";
import { padReportData, type ProviderKind } from "./providers/types.ts";
import { parseReport, REPORT_SIZE } from "./snp/report.ts";
import { snpClaims, verifySnpFetching, type SnpVerifyOptions } from "./snp/verify.ts";
import { detectEvidenceKind, parseQuote } from "./tdx/quote.ts";
import { tdxClaims, verifyTdx, type TdxVerifyOptions } from "./tdx/verify.ts";
import type { Verdict } from "./verdict.ts";

export { detectEvidenceKind };

/** `--tee HEX` → 64-byte report data (zero-padded; more than 64 bytes is an error). */
export function teeNonce(hex: string | undefined): Uint8Array {
  return padReportData(hex ? fromHex(hex) : new Uint8Array(0));
}

/** Parsed fields of evidence for `attestation get --json` (no verification). */
export function describeEvidence(b: Uint8Array, kind?: ProviderKind): Record<string, unknown> {
  if ((kind ?? detectEvidenceKind(b)) === "tdx") {
    const q = parseQuote(b);
    return q.ok ? { type: "tdx", ...tdxClaims(q.quote) } : { type: "tdx", error: q.detail };
  }
  const r = parseReport(b.subarray(0, REPORT_SIZE));
  return r.ok ? { type: kind ?? "snp", bytes: b.length, ...snpClaims(r.report) } : { type: "snp", error: r.detail };
}

export interface ValidateOptions {
  policy?: AttestationPolicy | string; // object or path
  vcek?: Uint8Array | string; // DER or path
  at?: Date | string;
  json?: boolean;
  cacheDir?: string;
  allowNetwork?: boolean;
  reportData?: string; // hex, overrides the policy's report data
  tdx?: Omit<TdxVerifyOptions, "policy" | "at">;
  snp?: Omit<SnpVerifyOptions, "policy" | "at" | "vcek">;
}

export async function verifyEvidence(evidence: Uint8Array, o: ValidateOptions = {}): Promise<Verdict> {
  const policy = typeof o.policy === "string" ? parsePolicy(readFileSync(o.policy, "utf8")) : o.policy;
  const vcek = typeof o.vcek === "string" ? new Uint8Array(readFileSync(o.vcek)) : o.vcek;
  const at = typeof o.at === "string" ? parseTime(o.at) : o.at;
  const expectedReportData = o.reportData ? padReportData(fromHex(o.reportData)) : undefined;
  if (detectEvidenceKind(evidence) === "tdx") return verifyTdx(evidence, { ...o.tdx, policy, at, expectedReportData });
  return verifySnpFetching(evidence, { ...o.snp, policy, vcek, at, cacheDir: o.cacheDir, allowNetwork: o.allowNetwork, expectedReportData });
}

export function parseTime(s: string): Date {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new Error(`--at: expected an ISO time like 2025-06-01T00:00:00Z, got "${s}"`);
  return d;
}

/** `attestation validate FILE …`: verdict plus the text to print and the exit code. */
export async function validateFile(path: string, o: ValidateOptions = {}): Promise<{ verdict: Verdict; output: string; exitCode: number }> {
  const verdict = await verifyEvidence(new Uint8Array(readFileSync(path)), o);
  return { verdict, output: o.json ? verdictJson(verdict) : formatVerdict(verdict), exitCode: verdict.ok ? 0 : 1 };
}
