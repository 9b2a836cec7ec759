import { describe, expect, test } from "bun:test";
import { verifySnp } from "./verify.ts";
import { buildCertTable } from "./certtable.ts";
import { parseReport, REPORT_SIZE, SIGNED_END, decodeTcb, encodeTcb } from "./report.ts";
import { pemToDer, toBase64 } from "../bytes.ts";
import { ALLOW_DEBUG_POLICY, SNP_VECTORS, snpFile, snpText } from "../testdata/load.ts";

const MILAN = { root_of_trust: { product: "Milan" } };

describe("SEV-SNP real vectors", () => {
  for (const v of SNP_VECTORS)
    test(`${v.report} verifies`, () => {
      const policy = "debug" in v ? { ...MILAN, ...ALLOW_DEBUG_POLICY } : MILAN;
      const verdict = verifySnp(snpFile(v.report), { vcek: snpFile(v.vcek), at: "at" in v ? v.at : undefined, policy });
      expect(verdict.reason).toBeUndefined();
      expect(verdict.ok).toBe(true);
      expect(verdict.simulated).toBe(false);
      expect(verdict.checks.find((c) => c.name === "snp.report_signature")?.ok).toBe(true);
    });

  test("product comes from the VCEK when the policy does not name it", () => {
    const v = verifySnp(snpFile("trustee_milan_v2_report.bin"), { vcek: snpFile("trustee_milan_vcek.der") });
    expect(v.ok).toBe(true);
    expect(v.claims.product).toBe("Milan");
  });

  test("VCEK and ASK/ARK carried in the evidence's certificate table", () => {
    const [ask, ark] = pemToDer(snpText("amd_milan_ask_ark.pem"));
    const table = buildCertTable({ vcek: snpFile("trustee_milan_vcek.der"), ask, ark });
    const ev = new Uint8Array([...snpFile("trustee_milan_v2_report.bin"), ...table]);
    expect(verifySnp(ev).ok).toBe(true);
  });

  test("VCEK from a cache directory", async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const { vcekCacheName } = await import("./vcek.ts");
    const dir = mkdtempSync(join(tmpdir(), "vcek-cache-"));
    try {
      const parsed = parseReport(snpFile("trustee_milan_v2_report.bin"));
      if (!parsed.ok) throw new Error(parsed.detail);
      const r = parsed.report;
      expect(verifySnp(r.raw, { policy: MILAN, cacheDir: dir }).code).toBe("snp.vcek_missing");
      writeFileSync(join(dir, vcekCacheName("Milan", r.chipId, r.reportedTcb)), snpFile("trustee_milan_vcek.der"));
      expect(verifySnp(r.raw, { policy: MILAN, cacheDir: dir }).ok).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("SEV-SNP negative cases, each with its own reason", () => {
  const report = snpFile("trustee_milan_v2_report.bin");
  const vcek = snpFile("trustee_milan_vcek.der");

  test("flipping any byte of the signed region or the signature fails", () => {
    let n = 0;
    for (let i = 0; i < 0x2a0 + 144; i++) {
      const m = report.slice();
      m[i] ^= 0x01 << i % 8;
      const v = verifySnp(m, { vcek, policy: MILAN });
      expect(v.ok).toBe(false);
      n++;
    }
    expect(n).toBe(SIGNED_END + 144);
  });

  test("the two NEG VCEKs fail the ASK check", () => {
    for (const f of ["trustee_NEG_vcek_invalid_legacy.der", "trustee_NEG_vcek_invalid_new.der"]) {
      const v = verifySnp(report, { vcek: snpFile(f), policy: MILAN });
      expect(v.ok).toBe(false);
      expect(v.checks.find((c) => c.name === "snp.vcek_signature")?.ok).toBe(false);
    }
  });

  test("a VCEK of another chip fails", () => {
    const v = verifySnp(report, { vcek: snpFile("virteesev_milan_vcek.der"), policy: MILAN });
    expect(v.ok).toBe(false);
    expect(v.checks.find((c) => c.name === "snp.vcek_chip_mismatch")?.ok).toBe(false);
    expect(v.checks.find((c) => c.name === "snp.report_signature")?.ok).toBe(false);
  });

  test("a Milan report checked against the Genoa root fails", () => {
    const v = verifySnp(report, { vcek, policy: { root_of_trust: { product: "Genoa" } } });
    expect(v.ok).toBe(false);
    expect(v.code).toBe("snp.product_mismatch");
    expect(v.checks.find((c) => c.name === "snp.vcek_signature")?.ok).toBe(false);
  });

  test("Milan evidence carrying a foreign ARK is refused", () => {
    const [, genoaArk] = pemToDer(snpText("amd_genoa_ask_ark.pem"));
    const ev = new Uint8Array([...report, ...buildCertTable({ ark: genoaArk, vcek })]);
    expect(verifySnp(ev, { policy: MILAN }).code).toBe("snp.ark_not_pinned");
  });

  test("truncated and oversized reports", () => {
    expect(verifySnp(report.subarray(0, 1000), { vcek }).code).toBe("snp.report_truncated");
    expect(verifySnp(new Uint8Array([...report, 1, 2, 3]), { vcek }).code).toBe("snp.report_oversized");
    expect(verifySnp(new Uint8Array(0)).code).toBe("snp.report_truncated");
  });

  test("the expired VLEK fails without a pinned time", () => {
    const v = verifySnp(snpFile("trustee_milan_v3_vlek_report.bin"), { vcek: snpFile("trustee_milan_vlek.der"), at: new Date("2026-01-01T00:00:00Z"), policy: MILAN });
    expect(v.code).toBe("snp.cert_expired");
    const now = verifySnp(snpFile("trustee_milan_v3_vlek_report.bin"), { vcek: snpFile("trustee_milan_vlek.der"), policy: MILAN });
    if (Date.now() > Date.parse("2025-12-10T22:14:21Z")) expect(now.code).toBe("snp.cert_expired");
  });

  test("a debug-policy report is refused unless the policy allows debug", () => {
    const v = verifySnp(snpFile("gosevguest_milan_v2_report.bin"), { vcek: snpFile("gosevguest_milan_vcek.der"), policy: MILAN });
    expect(v.code).toBe("snp.policy_debug");
  });

  test("a wrong nonce (replay) fails", () => {
    const v = verifySnp(report, { vcek, policy: MILAN, expectedReportData: new Uint8Array(64).fill(0xaa) });
    expect(v.code).toBe("snp.report_data_mismatch");
  });

  test("a wrong host_data (another manifest) fails", () => {
    const v = verifySnp(report, { vcek, policy: { ...MILAN, policy: { host_data: toBase64(new Uint8Array(32).fill(1)) } } });
    expect(v.code).toBe("snp.host_data_mismatch");
  });

  test("a malformed policy field is a verdict, not an exception", () => {
    const v = verifySnp(report, { vcek, policy: { ...MILAN, policy: { measurement: "abc" } } });
    expect(v.code).toBe("snp.policy_invalid");
  });

  test("a VCEK whose TCB differs from reported_tcb fails", () => {
    const v = verifySnp(snpFile("gosevguest_milan_v2_report.bin"), { vcek: snpFile("trustee_milan_vcek.der"), policy: { ...MILAN, ...ALLOW_DEBUG_POLICY } });
    expect(v.checks.find((c) => c.name === "snp.vcek_tcb_mismatch")?.ok).toBe(false);
  });
});

describe("SNP report layout", () => {
  test("parse fields of a real report", () => {
    const r = parseReport(snpFile("trustee_milan_v3_vlek_report.bin"));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.report.version).toBe(3);
    expect(r.report.raw.length).toBe(REPORT_SIZE);
    expect(((r.report.flags >> 2) & 7)).toBe(1); // VLEK
  });

  test("TCB encode/decode round trip, Turin layout differs", () => {
    const t = { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 };
    expect(decodeTcb(encodeTcb(t, "Turin"), "Turin")).toEqual(t);
    const m = { bootloader: 2, tee: 3, snp: 4, microcode: 5 };
    expect(decodeTcb(encodeTcb(m, "Milan"), "Milan")).toEqual(m);
    expect(encodeTcb(m, "Milan")).not.toBe(encodeTcb({ ...m, fmc: 0 }, "Turin"));
  });
});

describe("Turin", () => {
  test("Turin VCEK: chains to the pinned Turin ASK only; fmcSPL and the 8-byte hwID are read", async () => {
    const { parseCertificate, publicKey, verifyCertSignature } = await import("../x509.ts");
    const { AMD_ROOTS } = await import("../roots/index.ts");
    const { vcekInfo, productFromName, kdsVcekUrl } = await import("./vcek.ts");
    const vcek = parseCertificate(snpFile("virteesev_turin_vcek.der"));
    const turinAsk = parseCertificate(pemToDer(AMD_ROOTS.Turin.ask)[0]);
    const milanAsk = parseCertificate(pemToDer(AMD_ROOTS.Milan.ask)[0]);
    expect(verifyCertSignature(vcek, publicKey(turinAsk.spki))).toBe(true);
    expect(verifyCertSignature(vcek, publicKey(milanAsk.spki))).toBe(false);
    const info = vcekInfo(vcek);
    expect(productFromName(info.productName)).toBe("Turin");
    expect(info.hwId?.length).toBe(8);
    expect(info.tcb.fmc).toBeDefined();
    const chip = new Uint8Array(64);
    chip.set(info.hwId!);
    expect(kdsVcekUrl("Turin", chip, info.tcb as any)).toContain(`/Turin/${Buffer.from(info.hwId!).toString("hex")}?fmcSPL=`);
  });
});
