// Random, truncated and bit-flipped inputs never throw out of a verifier and never verify.
import { describe, expect, test } from "bun:test";
import { verifySnp } from "./snp/verify.ts";
import { verifyTdx } from "./tdx/verify.ts";
import { verifyAttestedCertificate, makeAttestedCertificate } from "./atls.ts";
import { parsePolicy } from "./policy.ts";
import { buildCertTable } from "./snp/certtable.ts";
import { generateSimRoot, simReport } from "./providers/sim.ts";
import { snpFile, tdxFile } from "./testdata/load.ts";
import { parseQuote } from "./tdx/quote.ts";
import { equal } from "./bytes.ts";
import { generateKeyPairSync } from "node:crypto";

// Deterministic PRNG so a failure reproduces.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function mutate(base: Uint8Array, r: () => number): Uint8Array {
  const kind = Math.floor(r() * 4);
  if (kind === 0) return base.subarray(0, Math.floor(r() * base.length)); // truncate
  if (kind === 1) {
    const m = base.slice();
    for (let i = 0, n = 1 + Math.floor(r() * 8); i < n; i++) m[Math.floor(r() * m.length)] ^= 1 << Math.floor(r() * 8);
    return m;
  }
  if (kind === 2) {
    const m = base.slice();
    const dv = new DataView(m.buffer);
    const at = Math.floor(r() * (m.length - 4));
    dv.setUint32(at, Math.floor(r() * 2 ** 32), true); // lengths/offsets/types
    return m;
  }
  const len = Math.floor(r() * 2 * base.length);
  return new Uint8Array(len).map(() => Math.floor(r() * 256));
}

const root = generateSimRoot();
const simEv = new Uint8Array([...simReport(root, new Uint8Array(64)), ...buildCertTable({ ark: root.arkDer, ask: root.askDer, vcek: root.vcekDer })]);
const snpReal = snpFile("trustee_milan_v2_report.bin");
const vcek = snpFile("trustee_milan_vcek.der");
const quote = tdxFile("trustee_quote_v4_b.dat");

describe("fuzz", () => {
  test("SNP: 2000 mutated reports / tables / VCEKs", () => {
    const r = rng(1);
    for (let i = 0; i < 2000; i++) {
      const which = i % 3;
      const base = which === 0 ? snpReal : which === 1 ? simEv : vcek;
      const m = mutate(base, r);
      const v =
        which === 0 ? verifySnp(m, { vcek, policy: { root_of_trust: { product: "Milan" } } })
        : which === 1 ? verifySnp(m, { policy: { root_of_trust: { product: "SIM", sim_ark_sha256: root.arkSha256 } } })
        : verifySnp(snpReal, { vcek: m });
      expect(typeof v.ok).toBe("boolean");
      // Only changes in unsigned bytes may pass: the reserved tail after r‖s (0x330..0x4A0) of a report.
      if (v.ok && which !== 2) expect(equal(m.subarray(0, 0x330), base.subarray(0, 0x330))).toBe(true);
      if (v.ok && which === 2) expect(equal(m, vcek)).toBe(true);
    }
  });

  test("TDX: 2000 mutated quotes", () => {
    const r = rng(2);
    const q = parseQuote(quote);
    if (!q.ok) throw new Error(q.detail);
    // header+body, sig data length, signature, attestation key, cert type/size, QE report, its signature, auth data
    const signedEnd = q.quote.signedRegion.length + 4 + 128 + 6 + 384 + 64 + 2 + q.quote.qeAuthData.length;
    for (let i = 0; i < 2000; i++) {
      const m = mutate(quote, r);
      const v = verifyTdx(m);
      expect(typeof v.ok).toBe("boolean");
      if (v.ok) expect(equal(m.subarray(0, signedEnd), quote.subarray(0, signedEnd))).toBe(true);
    }
  });

  test("aTLS certificates and policies: 500 mutated inputs", () => {
    const r = rng(3);
    const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "pem", type: "pkcs1" }) as string;
    const cert = makeAttestedCertificate(key, { kind: "sim", data: simEv, source: "sim", simulated: true }).certDer;
    for (let i = 0; i < 500; i++) {
      const v = verifyAttestedCertificate(mutate(cert, r), new Uint8Array(64), undefined);
      expect(v.ok).toBe(false);
    }
    for (let i = 0; i < 300; i++) {
      const junk = JSON.stringify({ policy: { measurement: Math.floor(r() * 1e6), vmpl: "x", minimum_tcb: "zz", policy: [1], trusted_id_key_hashes: "no" }, tdx: { mr_td: r() } });
      const v = verifySnp(snpReal, { vcek, policy: parsePolicy(junk) });
      expect(v.ok).toBe(false);
      const t = verifyTdx(quote, { policy: parsePolicy(junk) });
      expect(t.ok).toBe(false);
    }
  });
});
