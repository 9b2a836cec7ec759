// What `cocos-cli attestation get|validate` and `policy …` call. The CLI owns argument parsing and
// the gRPC call; these functions own evidence handling, verification and output.
import { readFileSync } from "node:fs";
import { equal, fromHex, toHex } from "./bytes.ts";
import { readCertificateFile, readCertificates } from "./cert-file.ts";
import { rpcReportData } from "./report-data.ts";
import { formatVerdict, verdictJson, verdictWarnings } from "./format.ts";
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

/** The report data inside SNP/sim or TDX evidence, if it parses. */
export function evidenceReportData(b: Uint8Array): Uint8Array | undefined {
  const rd = describeEvidence(b).report_data;
  return typeof rd === "string" && /^[0-9a-f]{128}$/.test(rd) ? fromHex(rd) : undefined;
}

/**
 * How evidence fetched over the Attestation RPC binds the caller's nonce: "rpc" = our agent's
 * labelled digest (cocos-attestation-rpc-v1), "raw" = the nonce itself (an agent without domain
 * separation, e.g. Cocos's Go agent), "none" = neither.
 */
export function rpcBinding(evidence: Uint8Array, teeNonce: Uint8Array): "rpc" | "raw" | "none" {
  const rd = evidenceReportData(evidence);
  if (!rd) return "none";
  if (equal(rd, rpcReportData(teeNonce))) return "rpc";
  return equal(rd, padReportData(teeNonce)) ? "raw" : "none";
}

export interface ValidateOptions {
  policy?: AttestationPolicy | string; // object or path
  /** VCEK/VLEK: PEM or DER bytes, or a path; a chain fills the ASK and ARK too (VCEK → ASK → ARK). */
  vcek?: Uint8Array | string;
  /** ASK/ASVK (or ASK then ARK, as AMD KDS's cert_chain and `ca-bundle` write it): PEM/DER bytes or a path. */
  ask?: Uint8Array | string;
  /** ARK: PEM/DER bytes or a path (it must still be the pinned AMD root). */
  ark?: Uint8Array | string;
  at?: Date | string;
  json?: boolean;
  cacheDir?: string;
  allowNetwork?: boolean;
  reportData?: string; // hex, exact expected report data (any context), overrides the policy's
  /** hex: the nonce given to `attestation get`; expected report data = the RPC's labelled digest of it. */
  nonce?: string;
  tdx?: Omit<TdxVerifyOptions, "policy" | "at">;
  snp?: Omit<SnpVerifyOptions, "policy" | "at" | "vcek">;
}

export async function verifyEvidence(evidence: Uint8Array, o: ValidateOptions = {}): Promise<Verdict> {
  const policy = typeof o.policy === "string" ? parsePolicy(readFileSync(o.policy, "utf8")) : o.policy;
  const { vcek, ...supplied } = suppliedCerts(o);
  const at = typeof o.at === "string" ? parseTime(o.at) : o.at;
  if (o.reportData && o.nonce) throw new Error("give either --nonce (what you asked the agent for) or --report_data (the exact report data), not both");
  const nonce = o.nonce !== undefined ? teeNonce(o.nonce) : undefined;
  const expectedReportData = nonce ? rpcReportData(nonce) : o.reportData ? padReportData(fromHex(o.reportData)) : undefined;
  const v =
    detectEvidenceKind(evidence) === "tdx"
      ? verifyTdx(evidence, { ...o.tdx, policy, at, expectedReportData })
      : await verifySnpFetching(evidence, { ...o.snp, certs: { ...o.snp?.certs, ...supplied }, policy, vcek, at, cacheDir: o.cacheDir, allowNetwork: o.allowNetwork, expectedReportData });
  return nonce && /report_data_mismatch$/.test(v.code ?? "") ? explainRawNonce(v, evidence, nonce) : v;
}

const CHAIN_ROLES = ["vcek", "ask", "ark"] as const;

/**
 * --vcek, --ask, --ark: each file (PEM or DER) fills its role and, when it holds a chain, the roles
 * above it in order; a role named by its own option wins over a chain's.
 */
function suppliedCerts(o: Pick<ValidateOptions, "vcek" | "ask" | "ark">): { vcek?: Uint8Array; ask?: Uint8Array; ark?: Uint8Array } {
  const out: Partial<Record<(typeof CHAIN_ROLES)[number], Uint8Array>> = {};
  const explicit = new Set(CHAIN_ROLES.filter((r) => o[r] !== undefined));
  CHAIN_ROLES.forEach((role, start) => {
    const src = o[role];
    if (src === undefined) return;
    const ders = typeof src === "string" ? readCertificateFile(src, `--${role}`) : readCertificates(src, `--${role}`);
    const room = CHAIN_ROLES.length - start;
    if (ders.length > room) throw new Error(`--${role}: expected at most ${room} certificates (${CHAIN_ROLES.slice(start).join(", ")}), got ${ders.length}`);
    ders.forEach((der, i) => {
      const r = CHAIN_ROLES[start + i]!;
      if (i === 0 || !explicit.has(r)) out[r] = der;
    });
  });
  return out;
}

/** The nonce arrived verbatim instead of RPC-labelled: say so, so the user knows which agent answered. */
function explainRawNonce(v: Verdict, evidence: Uint8Array, nonce: Uint8Array): Verdict {
  if (rpcBinding(evidence, nonce) !== "raw") return v;
  const note = `the report data is your nonce itself (${toHex(nonce).slice(0, 16)}…), not its cocos-attestation-rpc-v1 digest: the evidence comes from an agent without domain separation (e.g. Cocos's Go agent); check it with --report_data instead`;
  return { ...v, reason: `${v.reason}; ${note}` };
}

export function parseTime(s: string): Date {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new Error(`--at: expected an ISO time like 2025-06-01T00:00:00Z, got "${s}"`);
  return d;
}

/** `attestation validate FILE …`: verdict plus the text to print, its caveats and the exit code. */
export async function validateFile(path: string, o: ValidateOptions = {}): Promise<{ verdict: Verdict; output: string; warnings: string[]; exitCode: number }> {
  const verdict = await verifyEvidence(new Uint8Array(readFileSync(path)), o);
  return { verdict, output: o.json ? verdictJson(verdict) : formatVerdict(verdict), warnings: verdictWarnings(verdict), exitCode: verdict.ok ? 0 : 1 };
}
