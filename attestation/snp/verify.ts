// SEV-SNP verification on the server: the checks of checks.ts run with node:crypto, synchronously.
// Offline first; the VCEK comes from the caller, the evidence's certificate table, or a cache dir
// (verifySnpFetching adds AMD KDS). Never throws: every outcome is a Verdict.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { guard, type Verdict } from "../verdict.ts";
import { runSync, type CryptoBackend } from "../crypto/backend.ts";
import { nodeBackend } from "../crypto/node.ts";
import { REPORT_SIZE, type Product, type SnpReport } from "./report.ts";
import { vcekCacheName } from "./vcek.ts";
import { snpChecks, verifySnpWith, type SnpEnvironment, type SnpVerifyOptions as CoreOptions } from "./checks.ts";

export { splitSnpEvidence, snpClaims, type SplitEvidence } from "./checks.ts";

export interface SnpVerifyOptions extends CoreOptions {
  /** Directory with cached VCEKs (file names from vcekCacheName). */
  cacheDir?: string;
}

function cacheDirStore(dir: string | undefined): SnpEnvironment["cachedVcek"] {
  if (!dir) return undefined;
  return (product: Product, r: SnpReport) => {
    if (product === "SIM") return undefined;
    try {
      return new Uint8Array(readFileSync(join(dir, vcekCacheName(product, r.chipId, r.reportedTcb))));
    } catch {
      return undefined;
    }
  };
}

export function verifySnp(evidence: Uint8Array, opts: SnpVerifyOptions = {}): Verdict {
  return guard("snp", (c) => runSync(snpChecks(c, evidence, opts, { crypto: nodeBackend, cachedVcek: cacheDirStore(opts.cacheDir) }), nodeBackend));
}

/** The same checks with another (e.g. WebCrypto) backend; equal verdicts to verifySnp for equal inputs. */
export function verifySnpAsync(evidence: Uint8Array, opts: SnpVerifyOptions = {}, backend: CryptoBackend = nodeBackend): Promise<Verdict> {
  return verifySnpWith(evidence, opts, { crypto: backend, cachedVcek: cacheDirStore(opts.cacheDir) });
}

/** Like verifySnp, but fetches a missing VCEK from AMD KDS (short timeout) into the cache dir. */
export async function verifySnpFetching(evidence: Uint8Array, opts: SnpVerifyOptions & { allowNetwork?: boolean; kdsTimeoutMs?: number } = {}): Promise<Verdict> {
  const first = verifySnp(evidence, opts);
  if (first.code !== "snp.vcek_missing" || opts.allowNetwork === false || opts.policy?.root_of_trust?.disallow_network) return first;
  const { fetchVcek } = await import("./kds.ts");
  const der = await fetchVcek(evidence.subarray(0, REPORT_SIZE), first.claims.product as Product, opts.cacheDir, opts.kdsTimeoutMs ?? 5000);
  if (!der.ok) {
    first.checks.push({ name: "snp.kds_fetch", ok: false, detail: der.detail });
    first.reason += ` (AMD KDS: ${der.detail})`;
    return first;
  }
  return verifySnp(evidence, { ...opts, vcek: der.vcek });
}
