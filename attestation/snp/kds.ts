// AMD KDS VCEK fetch: optional, short timeout, result cached so later runs work offline.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeTcb, parseReport, type Product } from "./report.ts";
import { kdsVcekUrl, vcekCacheName } from "./vcek.ts";

export async function fetchVcek(report: Uint8Array, product: Product | undefined, cacheDir: string | undefined, timeoutMs: number): Promise<{ ok: true; vcek: Uint8Array } | { ok: false; detail: string }> {
  const parsed = parseReport(report);
  if (!parsed.ok) return { ok: false, detail: parsed.detail };
  if (!product || product === "SIM") return { ok: false, detail: `no KDS for product ${product ?? "unknown"}` };
  const r = parsed.report;
  const url = kdsVcekUrl(product, r.chipId, decodeTcb(r.reportedTcb, product));
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { ok: false, detail: `GET ${url}: HTTP ${res.status}` };
    const vcek = new Uint8Array(await res.arrayBuffer());
    if (cacheDir) {
      try {
        mkdirSync(cacheDir, { recursive: true });
        writeFileSync(join(cacheDir, vcekCacheName(product, r.chipId, r.reportedTcb)), vcek);
      } catch {}
    }
    return { ok: true, vcek };
  } catch (e) {
    return { ok: false, detail: `GET ${url}: ${(e as Error).message}` };
  }
}
