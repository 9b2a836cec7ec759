import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { describeEvidence, detectEvidenceKind, teeNonce, validateFile, verifyEvidence } from "./cli.ts";
import { formatVerdict, verdictJson } from "./format.ts";
import { formatPolicy, trustSimRoot } from "./policy.ts";
import { SimProvider } from "./providers/sim.ts";
import { SNP_VECTORS, snpFile, tdxFile } from "./testdata/load.ts";

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
