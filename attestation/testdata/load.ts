// Test helper: reads vectors copied into attestation/testdata (provenance: testdata/MANIFEST.md).
import { readFileSync } from "node:fs";
import { join } from "node:path";

const dir = import.meta.dir;
export const snpFile = (name: string) => new Uint8Array(readFileSync(join(dir, "snp", name)));
export const tdxFile = (name: string) => new Uint8Array(readFileSync(join(dir, "tdx", name)));
export const tdxText = (name: string) => readFileSync(join(dir, "tdx", name), "utf8");
export const snpText = (name: string) => readFileSync(join(dir, "snp", name), "utf8");

/** Real SNP reports with their VCEK/VLEK and, where a certificate has expired, a pinned time. */
export const SNP_VECTORS = [
  { report: "gosevguest_milan_v2_report.bin", vcek: "gosevguest_milan_vcek.der", debug: true },
  { report: "virteesev_milan_v2_report.bin", vcek: "virteesev_milan_vcek.der" },
  { report: "trustee_milan_v2_report.bin", vcek: "trustee_milan_vcek.der" },
  { report: "trustee_milan_v3_vlek_report.bin", vcek: "trustee_milan_vlek.der", at: new Date("2025-06-01T00:00:00Z") },
] as const;

export const TDX_VECTORS = [
  "gotdxguest_spr_e4_quote_v4.dat",
  "gotdxguest_quote_v5.dat",
  "gotdxguest_gcp_cos113_quote_v4_padded8000.dat",
  "trustee_quote_v4.dat",
  "trustee_quote_v5.dat",
  "trustee_quote_v4_b.dat",
] as const;

/** The guest policy that allows debugging (the go-sev-guest vector was launched with debug on). */
export const ALLOW_DEBUG_POLICY = { policy: { policy: String(0xb0000) } };
