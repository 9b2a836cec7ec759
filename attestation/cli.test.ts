import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { describeEvidence, detectEvidenceKind, teeNonce, validateFile, verifyEvidence } from "./cli.ts";
import { formatVerdict, verdictJson, verdictWarnings } from "./format.ts";
import { MILAN_FORGEABLE } from "./snp/policy-check.ts";
import { derToPem, pemToDer } from "./bytes.ts";
import { formatPolicy, trustSimRoot } from "./policy.ts";
import { SimProvider } from "./providers/sim.ts";
import { ALLOW_DEBUG_POLICY, SNP_VECTORS, snpFile, snpText, tdxFile } from "./testdata/load.ts";

const tmp = mkdtempSync(join(tmpdir(), "att-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const write = (name: string, data: Uint8Array | string) => {
  const p = join(tmp, name);
  writeFileSync(p, data);
  return p;
};

describe("attestation validate", () => {
  const milan = write("milan.json", formatPolicy({ root_of_trust: { product: "Milan" } }));

  test("passes every shared SNP vector (VCEK file, pinned time for the expired VLEK)", async () => {
    for (const v of SNP_VECTORS) {
      const policy = "debug" in v ? write("dbg.json", formatPolicy({ root_of_trust: { product: "Milan" }, policy: { policy: String(0xb0000) } })) : milan;
      const r = await validateFile(write(v.report, snpFile(v.report)), { policy, vcek: write(v.vcek, snpFile(v.vcek)), at: "at" in v ? v.at.toISOString() : undefined, allowNetwork: false });
      expect(r.verdict.reason).toBeUndefined();
      expect(r.exitCode).toBe(0);
      expect(r.output).toContain("Result: VERIFIED");
    }
  });

  test("readable failure: every check with PASS/FAIL and one reason line", async () => {
    const r = await validateFile(write("dbg.bin", snpFile("gosevguest_milan_v2_report.bin")), { policy: milan, vcek: write("v.der", snpFile("gosevguest_milan_vcek.der")), allowNetwork: false });
    expect(r.exitCode).toBe(1);
    expect(r.output).toMatch(/PASS {2}snp\.report_signature/);
    expect(r.output).toMatch(/FAIL {2}snp\.policy_debug/);
    const last = r.output.trim().split("\n").pop()!;
    expect(last).toStartWith("Result: FAILED — snp.policy_debug:");
    const j = JSON.parse((await validateFile(join(tmp, "dbg.bin"), { policy: milan, vcek: join(tmp, "v.der"), json: true, allowNetwork: false })).output);
    expect(j.ok).toBe(false);
    expect(j.code).toBe("snp.policy_debug");
  });

  test("a missing VCEK without network says how to supply one", async () => {
    const v = await verifyEvidence(snpFile("trustee_milan_v2_report.bin"), { policy: { root_of_trust: { product: "Milan", disallow_network: true } } });
    expect(v.code).toBe("snp.vcek_missing");
    expect(v.reason).toContain("--vcek");
  });

  test("TDX quotes are detected and verified", async () => {
    expect(detectEvidenceKind(tdxFile("gotdxguest_quote_v5.dat"))).toBe("tdx");
    expect(detectEvidenceKind(snpFile("trustee_milan_v2_report.bin"))).toBe("snp");
    const r = await validateFile(write("q.dat", tdxFile("gotdxguest_quote_v5.dat")), {});
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain("Intel TDX");
  });

  test("--at rejects a bad time", async () => {
    await expect(verifyEvidence(snpFile("trustee_milan_v2_report.bin"), { at: "yesterday-ish" })).rejects.toThrow(/expected an ISO time/);
  });

  test("sim evidence prints SIMULATED", async () => {
    const sim = new SimProvider({ stateDir: join(tmp, "sim") });
    const ev = await sim.getEvidence(teeNonce("abcd"));
    const v = await verifyEvidence(ev.data, { policy: trustSimRoot({}, sim.root.arkSha256), reportData: "abcd" });
    expect(v.ok).toBe(true);
    expect(formatVerdict(v)).toContain("SIMULATED");
    expect(verdictJson(v)).toContain('"simulated": true');
    expect(describeEvidence(ev.data, "sim").type).toBe("sim");
  });
});

describe("Milan evidence (software-forgeable reports, arXiv 2605.12990)", () => {
  const report = snpFile("trustee_milan_v2_report.bin");
  const vcek = snpFile("trustee_milan_vcek.der");
  const check = (v: { checks: { name: string; ok: boolean }[] }) => v.checks.find((c) => c.name === "snp.milan_forgeable");

  test("allowed by default, but flagged: a passing check and a warning, in text and JSON", async () => {
    const v = await verifyEvidence(report, { policy: { root_of_trust: { product: "Milan" } }, vcek, allowNetwork: false });
    expect(v.ok).toBe(true);
    expect(check(v)).toMatchObject({ ok: true });
    expect(verdictWarnings(v)).toEqual([MILAN_FORGEABLE]);
    expect(JSON.parse(verdictJson(v)).warnings).toEqual([MILAN_FORGEABLE]);
    const r = await validateFile(write("m.bin", report), { policy: write("m.json", formatPolicy({ root_of_trust: { product: "Milan" } })), vcek: write("m.der", vcek), allowNetwork: false });
    expect(r.warnings).toEqual([MILAN_FORGEABLE]);
  });

  test("root_of_trust.disallow_milan refuses every real Milan vector, with a genuine signature", async () => {
    for (const v of SNP_VECTORS) {
      const policy = { root_of_trust: { product: "Milan", disallow_milan: true }, ...("debug" in v ? ALLOW_DEBUG_POLICY : {}) };
      const verdict = await verifyEvidence(snpFile(v.report), { policy, vcek: snpFile(v.vcek), at: "at" in v ? v.at : undefined, allowNetwork: false });
      expect(verdict.checks.find((c) => c.name === "snp.report_signature")?.ok).toBe(true);
      expect(verdict.ok).toBe(false);
      expect(verdict.code).toBe("snp.milan_forgeable");
      expect(verdict.reason).toContain("expected Genoa or Turin evidence");
    }
  });

  test("the product comes from the evidence: a policy without a product still refuses Milan", async () => {
    const v = await verifyEvidence(report, { policy: { root_of_trust: { disallow_milan: true } }, vcek, allowNetwork: false });
    expect(v.claims.product).toBe("Milan");
    expect(v.code).toBe("snp.milan_forgeable");
  });

  test("a disallow_milan that is not a boolean is a policy error, not a silent allow", async () => {
    const v = await verifyEvidence(report, { policy: { root_of_trust: { product: "Milan", disallow_milan: "true" as unknown as boolean } }, vcek, allowNetwork: false });
    expect(v.code).toBe("snp.policy_invalid");
    expect(v.reason).toContain('expected true or false, got "true"');
  });

  test("non-Milan evidence carries neither the check nor the warning", async () => {
    const sim = new SimProvider({ stateDir: join(tmp, "sim-m") });
    const ev = await sim.getEvidence(teeNonce("ab"));
    const v = await verifyEvidence(ev.data, { policy: { ...trustSimRoot({}, sim.root.arkSha256), root_of_trust: { ...trustSimRoot({}, sim.root.arkSha256).root_of_trust, disallow_milan: true } } });
    expect(v.ok).toBe(true);
    expect(check(v)).toBeUndefined();
    expect(verdictWarnings(v)).toEqual([]);
  });
});

describe("--vcek, --ask, --ark: PEM or DER, chains included", () => {
  const report = snpFile("trustee_milan_v2_report.bin");
  const vcek = snpFile("trustee_milan_vcek.der");
  const chainPem = snpText("amd_milan_ask_ark.pem");
  const policy = { root_of_trust: { product: "Milan" } };

  test("a PEM VCEK verifies like its DER", async () => {
    const v = await verifyEvidence(report, { policy, vcek: write("vcek.pem", derToPem(vcek)), allowNetwork: false });
    expect(v.reason).toBeUndefined();
  });
  test("a VCEK → ASK → ARK chain file, and ca-bundle's ask_ark.pem as --ask", async () => {
    const [ask, ark] = pemToDer(chainPem);
    const chain = await verifyEvidence(report, { policy, vcek: write("chain.pem", derToPem(vcek) + chainPem), allowNetwork: false });
    expect(chain.reason).toBeUndefined();
    const der = await verifyEvidence(report, { policy, vcek, ask: write("ask_ark.der", new Uint8Array([...ask!, ...ark!])), allowNetwork: false });
    expect(der.reason).toBeUndefined();
  });
  test("a foreign ARK given with --ark is refused (it must be the pinned root)", async () => {
    const [, genoaArk] = pemToDer(snpText("amd_genoa_ask_ark.pem"));
    const v = await verifyEvidence(report, { policy, vcek, ark: write("genoa-ark.pem", derToPem(genoaArk!)), allowNetwork: false });
    expect(v.code).toBe("snp.ark_not_pinned");
  });
  test("more certificates than the roles above the option is an error", async () => {
    await expect(verifyEvidence(report, { policy, ark: write("two.pem", chainPem), allowNetwork: false })).rejects.toThrow("--ark: expected at most 1 certificates (ark), got 2");
  });
});

describe("attestation get helpers", () => {
  test("--tee pads to 64 bytes and refuses more", () => {
    expect(teeNonce("0102")).toEqual(new Uint8Array([1, 2, ...new Array(62).fill(0)]));
    expect(() => teeNonce("00".repeat(65))).toThrow(/at most 64 bytes/);
  });
  test("describeEvidence renders fields without verifying", () => {
    const d = describeEvidence(snpFile("trustee_milan_v2_report.bin"));
    expect(d.version).toBe(2);
    expect(String(d.measurement).length).toBe(96);
    expect(describeEvidence(tdxFile("trustee_quote_v4.dat")).debug).toBe(true);
  });
});
