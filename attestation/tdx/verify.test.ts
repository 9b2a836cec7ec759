import { describe, expect, test } from "bun:test";
import { verifyTdx } from "./verify.ts";
import { parseQuote } from "./quote.ts";
import { TDX_VECTORS, tdxFile, tdxText } from "../testdata/load.ts";

const allowDebug = { tdx: { allow_debug: true } };
const collateral2023 = () => ({
  tcbInfo: tdxText("gotdxguest_tcbinfo_v3_fmspc50806f000000.json"),
  qeIdentity: tdxText("gotdxguest_qe_identity.json"),
  tcbSigningChain: tdxText("intel_tcb_signing_chain.pem"),
});

describe("TDX real vectors", () => {
  for (const f of TDX_VECTORS)
    test(`${f} verifies`, () => {
      const v = verifyTdx(tdxFile(f), { policy: f === "trustee_quote_v4.dat" ? allowDebug : undefined });
      expect(v.reason).toBeUndefined();
      expect(v.ok).toBe(true);
      expect(v.checks.find((c) => c.name === "tdx.quote_signature")?.ok).toBe(true);
    });

  test("v4 quote padded to 8000 bytes: trailing bytes ignored", () => {
    const q = parseQuote(tdxFile("gotdxguest_gcp_cos113_quote_v4_padded8000.dat"));
    expect(q.ok && q.quote.totalLength).toBeLessThan(8000);
  });

  test("report_data of the COS-113 quote equals its nonce file", () => {
    const nonce = tdxFile("gotdxguest_gcp_cos113_nonce.dat");
    expect(verifyTdx(tdxFile("gotdxguest_gcp_cos113_quote_v4_padded8000.dat"), { expectedReportData: nonce }).ok).toBe(true);
    expect(verifyTdx(tdxFile("gotdxguest_gcp_cos113_quote_v4_padded8000.dat"), { expectedReportData: new Uint8Array(64).fill(3) }).code).toBe("tdx.report_data_mismatch");
  });

  test("CRLs: root and PCK CRL verify and the chain is not revoked", () => {
    const v = verifyTdx(tdxFile("gotdxguest_spr_e4_quote_v4.dat"), { at: new Date("2023-07-01T00:00:00Z"), crls: [tdxFile("gotdxguest_rootcrl.der"), tdxFile("gotdxguest_pckcrl.der")] });
    expect(v.ok).toBe(true);
    expect(v.checks.filter((c) => c.name === "tdx.crl_signature" && c.ok).length).toBe(2);
    expect(v.checks.filter((c) => c.name === "tdx.cert_revoked" && c.ok).length).toBe(2);
  });

  test("a CRL with a broken signature fails", () => {
    const crl = tdxFile("gotdxguest_pckcrl.der").slice();
    crl[crl.length - 5] ^= 0xff;
    const v = verifyTdx(tdxFile("gotdxguest_spr_e4_quote_v4.dat"), { at: new Date("2023-07-01T00:00:00Z"), crls: [crl] });
    expect(v.code).toBe("tdx.crl_signature");
  });

  test("2023 collateral: signatures, windows and FMSPC check; the PCK's TCB matches no level", () => {
    const v = verifyTdx(tdxFile("gotdxguest_spr_e4_quote_v4.dat"), { at: new Date("2023-07-01T00:00:00Z"), collateral: collateral2023() });
    const ok = (n: string) => v.checks.find((c) => c.name === n)?.ok;
    expect(ok("tdx.tcb_info_signature")).toBe(true);
    expect(ok("tdx.tcb_info_expired")).toBe(true);
    expect(ok("tdx.fmspc_mismatch")).toBe(true);
    expect(ok("tdx.qe_identity_signature")).toBe(true);
    expect(ok("tdx.qe_identity_mismatch")).toBe(true);
    expect(ok("tdx.qe_tcb_status")).toBe(true);
    // This sample PCK (sgx comps 3,3,…) is below every level of that TCB info: refused, with its reason.
    expect(v.code).toBe("tdx.tcb_status");
  });

  test("collateral outside its validity window fails", () => {
    const v = verifyTdx(tdxFile("gotdxguest_spr_e4_quote_v4.dat"), { at: new Date("2023-08-01T00:00:00Z"), collateral: collateral2023() });
    expect(v.checks.find((c) => c.name === "tdx.tcb_info_expired")?.ok).toBe(false);
    expect(v.checks.find((c) => c.name === "tdx.qe_identity_expired")?.ok).toBe(false);
  });

  test("collateral for another FMSPC fails", () => {
    const v = verifyTdx(tdxFile("gotdxguest_gcp_cos113_quote_v4_padded8000.dat"), { at: new Date("2023-07-01T00:00:00Z"), collateral: collateral2023() });
    expect(v.checks.find((c) => c.name === "tdx.fmspc_mismatch")?.ok).toBe(false);
  });

  test("tampered collateral fails its signature", () => {
    const col = collateral2023();
    col.tcbInfo = col.tcbInfo.replace('"tcbEvaluationDataNumber":15', '"tcbEvaluationDataNumber":16');
    const v = verifyTdx(tdxFile("gotdxguest_spr_e4_quote_v4.dat"), { at: new Date("2023-07-01T00:00:00Z"), collateral: col });
    expect(v.code).toBe("tdx.tcb_info_signature");
  });

  test("TDX 1.5 TCB info: signed by the (since expired) TCB signing key; UpToDate for the v5 sample", () => {
    const v = verifyTdx(tdxFile("gotdxguest_quote_v5.dat"), {
      at: new Date("2026-02-15T00:00:00Z"),
      collateral: { tcbInfo: tdxText("gotdxguest_tcbinfo_tdx15.json"), tcbSigningChain: tdxText("intel_tcb_signing_chain.pem") },
    });
    expect(v.checks.find((c) => c.name === "tdx.tcb_info_signature")?.ok).toBe(true);
    expect(v.checks.find((c) => c.name === "tdx.tcb_status")?.actual).toBe("UpToDate");
    expect(v.code).toBe("tdx.tcb_signing_cert_expired");
  });
});

describe("TDX negative cases", () => {
  const quote = tdxFile("trustee_quote_v5.dat");
  const parsed = parseQuote(quote);
  if (!parsed.ok) throw new Error(parsed.detail);
  const q = parsed.quote;
  const sd = q.signedRegion.length + 4;

  test("flipping any byte of a signed region fails", () => {
    const qeStart = sd + 134;
    const regions: [number, number][] = [
      [0, q.signedRegion.length], // header + body (quote signature)
      [sd, sd + 128], // signature and attestation key
      [qeStart, qeStart + 384 + 64 + 2 + q.qeAuthData.length], // QE report, its signature, auth data
    ];
    let n = 0;
    for (const [a, b] of regions)
      for (let i = a; i < b; i++) {
        const m = quote.slice();
        m[i] ^= 0x80 >> i % 8;
        expect(verifyTdx(m).ok).toBe(false);
        n++;
      }
    expect(n).toBe(regions.reduce((s, [a, b]) => s + b - a, 0));
    expect(n).toBeGreaterThan(1200);
  });

  test("bad certification data type", () => {
    const m = quote.slice();
    new DataView(m.buffer).setUint16(sd + 128, 5, true);
    expect(verifyTdx(m).code).toBe("tdx.cert_data_type");
    const inner = quote.slice();
    new DataView(inner.buffer).setUint16(sd + 134 + 450 + q.qeAuthData.length, 3, true);
    expect(verifyTdx(inner).code).toBe("tdx.cert_data_type");
  });

  test("truncated quote and unknown version", () => {
    expect(verifyTdx(quote.subarray(0, 700)).code).toBe("tdx.quote_truncated");
    const m = quote.slice();
    m[0] = 3;
    expect(verifyTdx(m).code).toBe("tdx.quote_version");
  });

  test("a debuggable TD is refused unless allowed", () => {
    const v4 = tdxFile("trustee_quote_v4.dat");
    expect(verifyTdx(v4).code).toBe("tdx.td_debug");
    expect(verifyTdx(v4, { policy: allowDebug }).ok).toBe(true);
  });

  test("PCK chain against another root fails", () => {
    const v = verifyTdx(quote, { rootPem: tdxText("intel_tcb_signing_chain.pem") });
    expect(v.code).toBe("tdx.root_not_pinned");
  });

  test("expired PCK at a pinned time", () => {
    const v = verifyTdx(quote, { at: new Date("2060-01-01T00:00:00Z") });
    expect(v.code).toBe("tdx.cert_expired");
  });
});
