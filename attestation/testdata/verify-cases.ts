// Test helper: one list of verification cases (real SNP and TDX vectors, fresh sim evidence, and
// tampered variants) that the server verifier and the browser verifier must judge identically.
// Cases are plain data so a browser test can ship them to a page as JSON (caseToWire).
import { verifySnp } from "../snp/verify.ts";
import { verifyTdx } from "../tdx/verify.ts";
import { detectEvidenceKind } from "../tdx/quote.ts";
import { buildCertTable } from "../snp/certtable.ts";
import { fromHex, pemToDer, toBase64, toHex } from "../bytes.ts";
import { generateSimRoot, simReport, type SimRoot } from "../providers/sim.ts";
import { hostDataForManifest, setHostData, trustSimRoot, type AttestationPolicy } from "../policy.ts";
import type { TdxCollateral } from "../tdx/collateral.ts";
import type { Verdict } from "../verdict.ts";
import { ALLOW_DEBUG_POLICY, SNP_VECTORS, TDX_VECTORS, snpFile, snpText, tdxFile, tdxText } from "./load.ts";

export interface CaseOptions {
  vcek?: Uint8Array;
  at?: string; // ISO
  expectedReportData?: string; // hex
  collateral?: TdxCollateral;
  crls?: Uint8Array[];
}

export interface VerifyCase {
  name: string;
  evidence: Uint8Array;
  policy: AttestationPolicy;
  opts: CaseOptions;
  /** The check that must fail; undefined: the verdict must be ok. */
  fails?: string;
  simulated?: boolean;
}

/** A fixed time inside every real vector's certificate windows (the trustee VLEK expired 2025-12-10). */
const VECTOR_TIME = "2025-06-01T00:00:00Z";

const MILAN = { root_of_trust: { product: "Milan" } };

/** A manifest like the CLI's, for the sim evidence's host_data. */
const KEY = "MCowBQYDK2VwAyEAp/tCga13FHAQimP0Pafg+KqB2ao09W62kSW40GisouE=";
const SAMPLE_MANIFEST = { id: "browser-1", name: "iris", algorithm: { hash: Array.from({ length: 32 }, (_, i) => i), user_key: KEY }, result_consumers: [{ user_key: KEY }] };

const flip = (b: Uint8Array, at: number) => {
  const m = b.slice();
  m[at] ^= 0x01;
  return m;
};

/** SNP evidence as the agent streams it: report ‖ certificate table (ASK/ARK from the vector's bundle). */
function withTable(report: Uint8Array, vcekName: string, bundle: string): Uint8Array {
  const [ask, ark] = pemToDer(snpText(bundle));
  const table = buildCertTable(vcekName.includes("vlek") ? { vlek: snpFile(vcekName), ask, ark } : { vcek: snpFile(vcekName), ask, ark });
  return new Uint8Array([...report, ...table]);
}

export interface SimCase {
  root: SimRoot;
  evidence: Uint8Array;
  policy: AttestationPolicy;
  reportData: Uint8Array;
}

/** Fresh sim evidence: host_data = the manifest hash, a report data, a policy pinning the sim ARK. */
function simCase(root: SimRoot = generateSimRoot()): SimCase {
  const reportData = new Uint8Array(64).map((_, i) => (i * 7 + 1) & 0xff);
  const hostData = hostDataForManifest(SAMPLE_MANIFEST);
  const report = simReport(root, reportData, { hostData });
  const evidence = new Uint8Array([...report, ...buildCertTable({ ark: root.arkDer, ask: root.askDer, vcek: root.vcekDer })]);
  const policy = setHostData(trustSimRoot({}, root.arkSha256), hostData);
  return { root, evidence, policy, reportData };
}

export function verifyCases(sim: SimCase = simCase()): VerifyCase[] {
  const out: VerifyCase[] = [];
  for (const v of SNP_VECTORS) {
    const policy = "debug" in v ? { ...MILAN, ...ALLOW_DEBUG_POLICY } : MILAN;
    out.push({ name: `snp ${v.report}`, evidence: snpFile(v.report), policy, opts: { vcek: snpFile(v.vcek), at: VECTOR_TIME } });
  }
  const trustee = snpFile("trustee_milan_v2_report.bin");
  const vcek = snpFile("trustee_milan_vcek.der");
  out.push(
    { name: "snp trustee with its certificate table", evidence: withTable(trustee, "trustee_milan_vcek.der", "amd_milan_ask_ark.pem"), policy: MILAN, opts: { at: VECTOR_TIME } },
    { name: "snp VLEK with its certificate table", evidence: withTable(snpFile("trustee_milan_v3_vlek_report.bin"), "trustee_milan_vlek.der", "amd_milan_asvk_ark.pem"), policy: MILAN, opts: { at: VECTOR_TIME } },
    { name: "snp flipped report-signature byte", evidence: flip(trustee, 0x2a0 + 5), policy: MILAN, opts: { vcek, at: VECTOR_TIME }, fails: "snp.report_signature" },
    { name: "snp flipped measurement byte", evidence: flip(trustee, 0x90), policy: MILAN, opts: { vcek, at: VECTOR_TIME }, fails: "snp.report_signature" },
    { name: "snp VLEK expired without the pinned time", evidence: snpFile("trustee_milan_v3_vlek_report.bin"), policy: MILAN, opts: { vcek: snpFile("trustee_milan_vlek.der"), at: "2026-01-01T00:00:00Z" }, fails: "snp.cert_expired" },
    { name: "snp VCEK not signed by the ASK", evidence: trustee, policy: MILAN, opts: { vcek: snpFile("trustee_NEG_vcek_invalid_new.der"), at: VECTOR_TIME }, fails: "snp.vcek_signature" },
    { name: "snp wrong host_data", evidence: trustee, policy: setHostData(MILAN, new Uint8Array(32).fill(9)), opts: { vcek, at: VECTOR_TIME }, fails: "snp.host_data_mismatch" },
    { name: "snp debug refused", evidence: snpFile("gosevguest_milan_v2_report.bin"), policy: MILAN, opts: { vcek: snpFile("gosevguest_milan_vcek.der"), at: VECTOR_TIME }, fails: "snp.policy_debug" },
  );
  const rd = toHex(sim.reportData);
  out.push(
    { name: "sim fresh evidence", evidence: sim.evidence, policy: sim.policy, opts: { expectedReportData: rd }, simulated: true },
    { name: "sim flipped report-signature byte", evidence: flip(sim.evidence, 0x2e8 + 3), policy: sim.policy, opts: { expectedReportData: rd }, fails: "snp.report_signature", simulated: true },
    { name: "sim wrong host_data", evidence: sim.evidence, policy: setHostData(sim.policy, new Uint8Array(32).fill(1)), opts: { expectedReportData: rd }, fails: "snp.host_data_mismatch", simulated: true },
    { name: "sim wrong report data (replay)", evidence: sim.evidence, policy: sim.policy, opts: { expectedReportData: "00".repeat(64) }, fails: "snp.report_data_mismatch", simulated: true },
    { name: "sim root not pinned", evidence: sim.evidence, policy: MILAN, opts: {}, fails: "snp.sim_root_not_trusted", simulated: true },
    { name: "sim root of another sim chain", evidence: sim.evidence, policy: trustSimRoot({}, "ab".repeat(32)), opts: {}, fails: "snp.sim_root_not_trusted", simulated: true },
  );
  for (const f of TDX_VECTORS)
    out.push({ name: `tdx ${f}`, evidence: tdxFile(f), policy: f === "trustee_quote_v4.dat" ? { tdx: { allow_debug: true } } : {}, opts: {} });
  const spr = tdxFile("gotdxguest_spr_e4_quote_v4.dat");
  const collateral = { tcbInfo: tdxText("gotdxguest_tcbinfo_v3_fmspc50806f000000.json"), qeIdentity: tdxText("gotdxguest_qe_identity.json"), tcbSigningChain: tdxText("intel_tcb_signing_chain.pem") };
  out.push(
    { name: "tdx CRLs", evidence: spr, policy: {}, opts: { at: "2023-07-01T00:00:00Z", crls: [tdxFile("gotdxguest_rootcrl.der"), tdxFile("gotdxguest_pckcrl.der")] } },
    { name: "tdx 2023 collateral (TCB level matches none)", evidence: spr, policy: {}, opts: { at: "2023-07-01T00:00:00Z", collateral }, fails: "tdx.tcb_status" },
    { name: "tdx flipped TD-report byte", evidence: flip(spr, 48 + 200), policy: {}, opts: {}, fails: "tdx.quote_signature" },
  );
  // One pinned time per run, so both verifiers see the same "now".
  const now = new Date().toISOString();
  return out.map((c) => ({ ...c, opts: { at: now, ...c.opts } }));
}

/** The server-side verdict (node:crypto, synchronous). */
export function serverVerdict(c: VerifyCase): Verdict {
  const at = c.opts.at ? new Date(c.opts.at) : undefined;
  const expectedReportData = c.opts.expectedReportData ? fromHex(c.opts.expectedReportData) : undefined;
  if (detectEvidenceKind(c.evidence) === "tdx") return verifyTdx(c.evidence, { policy: c.policy, at, expectedReportData, collateral: c.opts.collateral, crls: c.opts.crls });
  return verifySnp(c.evidence, { policy: c.policy, at, expectedReportData, vcek: c.opts.vcek });
}

// ---------------------------------------------------------------- JSON transport to a page

export interface WireCase {
  name: string;
  evidence: string; // base64
  policy: string; // the policy JSON text, as a page downloads it
  opts: Omit<CaseOptions, "vcek" | "crls"> & { vcek?: string; crls?: string[] };
}

export const caseToWire = (c: VerifyCase): WireCase => ({
  name: c.name,
  evidence: toBase64(c.evidence),
  policy: JSON.stringify(c.policy),
  opts: { ...c.opts, vcek: c.opts.vcek && toBase64(c.opts.vcek), crls: c.opts.crls?.map(toBase64) },
});
