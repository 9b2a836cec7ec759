// The attestation page's verification, all of it in the browser: a fresh nonce, the agent's
// evidence for it relayed by the console (untrusted), checked with the bundled verifier against the
// run's policy, with the report data this page computes from its own nonce, and the policy's
// host_data compared with the manifest hash this page computes from the manifest it shows.
import { sha3_256 } from "@noble/hashes/sha3.js";
import { verifyEvidenceInBrowser, type AttestationPolicy, type Check, type Verdict } from "../../attestation/browser/index.ts";
import { rpcReportData } from "../../attestation/browser/report-data.ts";
import { decodeFixed, fromBase64, toHex } from "../../attestation/encoding.ts";

export const NONCE_BYTES = 64;

export { fromBase64, toHex };

export const freshNonce = () => crypto.getRandomValues(new Uint8Array(NONCE_BYTES));

/** SHA3-256 of the manifest JSON text, as `cocos-cli checksum --manifest` computes it. */
export const manifestHashOf = (json: string) => toHex(sha3_256(new TextEncoder().encode(json)));

/** A policy's 32-byte field (hex or base64, as policy-json.ts writes it) as hex; null when absent or malformed. */
export function policyBytesHex(v: unknown, len: number): string | null {
  if (typeof v !== "string" || !v) return null;
  try {
    return toHex(decodeFixed(v, len, "host_data"));
  } catch {
    return null;
  }
}

/** The page's own check: the policy the console relayed pins host_data to the manifest this page hashed. */
export function hostDataCheck(policy: AttestationPolicy | null, manifestHash: string): Check {
  const actual = policyBytesHex(policy?.policy?.host_data, 32);
  return {
    name: "page.host_data_is_manifest_hash",
    ok: actual !== null && actual === manifestHash.toLowerCase(),
    expected: manifestHash,
    actual: actual ?? "no host_data in the policy",
    detail: "the policy's host_data (which the report must carry) equals the SHA3-256 of the manifest computed in this browser",
  };
}

export interface Relayed {
  evidence_base64: string;
  policy: AttestationPolicy | null;
  manifest_sha3_256: string;
  nonce: string;
}

export interface Outcome {
  ok: boolean;
  verdict: Verdict;
  hostData: Check;
  nonceHex: string;
  reportDataHex: string;
  evidenceBytes: number;
  ms: number;
}

/**
 * Verifies what the console relayed for `nonce` against `manifestHash` (computed here). `expected` is
 * the report data this page computed: by default the Attestation RPC's; the upload page's binds its key.
 */
export async function verifyRelayed(relayed: Relayed, nonce: Uint8Array, manifestHash: string, expected: Uint8Array = rpcReportData(nonce)): Promise<Outcome> {
  const started = performance.now();
  const evidence = fromBase64(relayed.evidence_base64);
  const verdict = relayed.policy
    ? await verifyEvidenceInBrowser(evidence, relayed.policy, { expectedReportData: expected })
    : { ok: false, kind: "snp" as const, simulated: false, claims: {}, checks: [{ name: "page.policy_missing", ok: false, detail: "the console returned no policy for this run" }], reason: "no policy" };
  const hostData = hostDataCheck(relayed.policy, manifestHash);
  return { ok: verdict.ok && hostData.ok, verdict, hostData, nonceHex: toHex(nonce), reportDataHex: toHex(expected), evidenceBytes: evidence.length, ms: performance.now() - started };
}

/** The checks the page summarises, each a family of the verifier's check names. */
export const CHECK_GROUPS: { title: string; match: RegExp }[] = [
  { title: "Certificate chain (ARK → ASK → VCEK)", match: /\.(ark|ask|vcek|cert|sim_root|signing_key|pck|qe|collateral|crl)/ },
  { title: "Report signature", match: /\.(report_signature|signature_algo|quote_signature)/ },
  { title: "Measurement", match: /\.(measurement|mrtd|rtmr)/ },
  { title: "host_data = manifest hash", match: /(\.host_data|mrconfig|page\.host_data)/ },
  { title: "TCB", match: /(tcb|\.build_|\.version_|guest_svn|provisional|milan)/ },
  { title: "Report data = labelled digest of this page's nonce", match: /\.report_data/ },
];

export type GroupState = "passed" | "failed" | "not reached" | "not set by the policy";

/**
 * Each group's state: failed if any of its checks failed, passed if it has checks and all passed;
 * without checks, "not reached" after a failure (the verifier stops) or "not set by the policy".
 */
export function groupChecks(checks: Check[]): { title: string; state: GroupState; checks: Check[] }[] {
  const anyFailed = checks.some((c) => !c.ok);
  return CHECK_GROUPS.map((g) => {
    const mine = checks.filter((c) => g.match.test(c.name));
    const state: GroupState = mine.some((c) => !c.ok) ? "failed" : mine.length ? "passed" : anyFailed ? "not reached" : "not set by the policy";
    return { title: g.title, state, checks: mine };
  });
}
