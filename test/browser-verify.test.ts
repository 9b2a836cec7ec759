// The project's verifier, bundled for the browser, run in headless Chromium: a page fetches evidence
// and policies (as the attestation page fetches them through the untrusted console), verifies with
// WebCrypto, and must reach exactly the server verifier's verdicts — real SNP and TDX vectors, fresh
// sim evidence, a flipped report-signature byte, a wrong host_data. Also times an SNP verification
// in the page against Bun (figures printed, never asserted).
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { buildVerifierBundle } from "../attestation/browser/build.ts";
import { clearSignatureCache } from "../attestation/x509.ts";
import { caseToWire, serverVerdict, verifyCases, type VerifyCase } from "../attestation/testdata/verify-cases.ts";
import type { Verdict } from "../attestation/verdict.ts";
import { browserTest, servePage, withBrowser, type ServedPage } from "./support/browser.ts";

const PAGE = `<!doctype html><meta charset="utf-8"><title>verify</title><pre id="out">verifying…</pre>
<script type="module">
import { verifyEvidenceInBrowser, resetVerifierCaches } from "/verifier.js";
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const opts = (o) => ({ ...o, vcek: o.vcek && b64(o.vcek), crls: o.crls && o.crls.map(b64) });
window.verifyAll = async () => {
  const cases = await (await fetch("/cases.json")).json();
  const out = [];
  for (const c of cases) out.push({ name: c.name, verdict: await verifyEvidenceInBrowser(b64(c.evidence), c.policy, opts(c.opts)) });
  document.getElementById("out").textContent = out.map((r) => (r.verdict.ok ? "PASS " : "FAIL ") + r.name + (r.verdict.simulated ? " [SIMULATED]" : "")).join("\\n");
  return out;
};
window.timeVerify = async (name, n, cold) => {
  const c = (await (await fetch("/cases.json")).json()).find((x) => x.name === name);
  const ms = [];
  for (let i = 0; i < n; i++) {
    if (cold) resetVerifierCaches();
    const t = performance.now();
    const v = await verifyEvidenceInBrowser(b64(c.evidence), c.policy, opts(c.opts));
    ms.push(performance.now() - t);
    if (!v.ok) throw new Error(v.reason);
  }
  return ms;
};
window.ready = true;
</script>`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let cases: VerifyCase[];
let site: ServedPage;

beforeAll(async () => {
  cases = verifyCases();
  site = servePage({ "/": PAGE, "/verifier.js": await buildVerifierBundle(), "/cases.json": JSON.stringify(cases.map(caseToWire)) });
});
afterAll(() => site?.stop());

const byName = (rs: { name: string; verdict: Verdict }[], name: string) => rs.find((r) => r.name === name)!.verdict;
const failed = (v: Verdict, check: string) => v.checks.some((c) => c.name === check && !c.ok);

describe("attestation verifier in headless Chromium", () => {
  browserTest("the page's verdicts equal the server's for every case; tampering fails the right check", async () => {
    const results = await withBrowser(async (page) => {
      await page.goto(site.url + "/");
      await page.waitForFunction(() => (globalThis as any).ready === true);
      const rs = (await page.evaluate(() => (globalThis as any).verifyAll())) as { name: string; verdict: Verdict }[];
      const shown = await page.$eval("#out", (e) => e.textContent ?? "");
      return { rs, shown };
    });
    const { rs, shown } = results;
    expect(rs.map((r) => r.name)).toEqual(cases.map((c) => c.name));
    for (const c of cases) expect({ name: c.name, verdict: byName(rs, c.name) }).toEqual({ name: c.name, verdict: serverVerdict(c) });

    // What the attestation page shows: real vectors pass, sim passes as SIMULATED, tampering fails.
    expect(byName(rs, "snp trustee with its certificate table").ok).toBe(true);
    const sim = byName(rs, "sim fresh evidence");
    expect(sim.ok).toBe(true);
    expect(sim.simulated).toBe(true);
    expect(sim.kind).toBe("sim");
    for (const name of ["snp flipped report-signature byte", "sim flipped report-signature byte"]) {
      const v = byName(rs, name);
      expect(v.ok).toBe(false);
      expect(failed(v, "snp.report_signature")).toBe(true);
    }
    for (const name of ["snp wrong host_data", "sim wrong host_data"]) {
      const v = byName(rs, name);
      expect(v.ok).toBe(false);
      expect(failed(v, "snp.host_data_mismatch")).toBe(true);
      expect(v.checks.find((k) => k.name === "snp.report_signature")?.ok).toBe(true); // the evidence itself is genuine
    }
    expect(failed(byName(rs, "sim root not pinned"), "snp.sim_root_not_trusted")).toBe(true);
    expect(failed(byName(rs, "tdx flipped TD-report byte"), "tdx.quote_signature")).toBe(true);
    expect(shown).toContain("PASS sim fresh evidence [SIMULATED]");
    expect(shown).toContain("FAIL snp flipped report-signature byte");
  });

  browserTest("timing: SNP verification (cold and with the chain memoized) in Chromium vs Bun", async () => {
    const N = Number(process.env.BROWSER_BENCH_N ?? 15);
    const name = "snp trustee with its certificate table";
    const pageMs = await withBrowser(async (page) => {
      await page.goto(site.url + "/");
      await page.waitForFunction(() => (globalThis as any).ready === true);
      const run = (cold: boolean) => page.evaluate((n, k, cd) => (globalThis as any).timeVerify(k, n, cd), N, name, cold) as Promise<number[]>;
      return { cold: await run(true), warm: await run(false) };
    });
    const c = cases.find((x) => x.name === name)!;
    const bunRun = (cold: boolean) => {
      const ms: number[] = [];
      for (let i = 0; i < N; i++) {
        if (cold) clearSignatureCache();
        const t = performance.now();
        expect(serverVerdict(c).ok).toBe(true);
        ms.push(performance.now() - t);
      }
      return ms;
    };
    const bunMs = { cold: bunRun(true), warm: bunRun(false) };
    for (const k of ["cold", "warm"] as const)
      console.log(`SNP verification ${k} (${k === "cold" ? "ARK+ASK+VCEK RSA-PSS-4096 chain + " : "chain memoized, "}ECDSA P-384 report), median of ${N}: Chromium WebCrypto ${median(pageMs[k]).toFixed(2)} ms, Bun node:crypto ${median(bunMs[k]).toFixed(2)} ms`);
    expect(pageMs.cold.length).toBe(N);
  });
});
