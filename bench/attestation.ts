// Attestation verification latency: median per SNP report and per TDX quote over many runs, warm
// (certificate-chain results memoized, the steady state of a verifier process) and cold (every
// RSA/ECDSA certificate signature re-checked). Writes bench/results/attestation.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { verifySnp } from "../attestation/snp/verify.ts";
import { verifyTdx } from "../attestation/tdx/verify.ts";
import { clearSignatureCache } from "../attestation/x509.ts";
import { SimProvider, generateSimRoot } from "../attestation/providers/sim.ts";
import { AttestedIdentity, verifyAttestedCertificate } from "../attestation/atls.ts";
import { trustSimRoot } from "../attestation/policy.ts";
import { snpFile, tdxFile } from "../attestation/testdata/load.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function measure(runs: number, fn: () => unknown, cold = false): { median_ms: number; runs: number } {
  for (let i = 0; i < Math.min(20, runs); i++) fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (cold) clearSignatureCache();
    const s = performance.now();
    fn();
    t.push(performance.now() - s);
  }
  return { median_ms: +median(t).toFixed(3), runs };
}

export async function run(): Promise<object> {
  const report = snpFile("trustee_milan_v2_report.bin");
  const vcek = snpFile("trustee_milan_vcek.der");
  const milan = { root_of_trust: { product: "Milan" } };
  const must = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`bench: ${what} did not verify`);
  };
  must(verifySnp(report, { vcek, policy: milan }).ok, "SNP vector");
  const q4 = tdxFile("gotdxguest_spr_e4_quote_v4.dat");
  const q5 = tdxFile("trustee_quote_v5.dat");
  must(verifyTdx(q4).ok && verifyTdx(q5).ok, "TDX vectors");

  const sim = new SimProvider({ root: generateSimRoot() });
  const simEv = (await sim.getEvidence(new Uint8Array(64))).data;
  const simPolicy = trustSimRoot({}, sim.root.arkSha256);
  const id = new AttestedIdentity(sim);
  const nonce = new Uint8Array(64).fill(1);
  const cert = (await id.certificateFor(nonce)).certDer;
  must(verifyAttestedCertificate(cert, nonce, simPolicy).ok, "aTLS certificate");

  let n = 0;
  const t0 = performance.now();
  for (; n < 50; n++) await id.certificateFor(new Uint8Array(64).fill(n + 2));
  const certMs = (performance.now() - t0) / n;

  const result = {
    snp_report_verify: measure(300, () => verifySnp(report, { vcek, policy: milan })),
    snp_report_verify_cold_chain: measure(100, () => verifySnp(report, { vcek, policy: milan }), true),
    tdx_quote_v4_verify: measure(300, () => verifyTdx(q4)),
    tdx_quote_v5_verify: measure(300, () => verifyTdx(q5)),
    tdx_quote_v4_verify_cold_chain: measure(100, () => verifyTdx(q4), true),
    sim_evidence_verify: measure(300, () => verifySnp(simEv, { policy: simPolicy })),
    atls_certificate_verify: measure(200, () => verifyAttestedCertificate(cert, nonce, simPolicy)),
    atls_certificate_issue_ms_mean: +certMs.toFixed(3),
    note: "median ms per verification on this machine; warm = chain signatures memoized, cold = every certificate signature re-checked",
  };
  const dir = join(import.meta.dir, "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "attestation.json"), JSON.stringify(result, null, 2) + "\n");
  return result;
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
