// cocos:computation — the datasets the manifest declares and progress reports, for guests that
// target the cocos:computation worlds (wit/).

import { closeSync, openSync, readSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { DatasetEntry } from "../worker-protocol.ts";

export function createCocosImports(datasets: () => DatasetEntry[], onProgress: (fraction: number, message: string) => void) {
  return {
    "cocos:computation/datasets": {
      listDatasets: () => datasets().map((d) => ({ name: d.name, hash: d.hash, size: BigInt(d.size) })),
    },
    "cocos:computation/progress": {
      report(fraction: number, message: string) {
        const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
        onProgress(f, String(message).slice(0, 4096));
      },
    },
  };
}

/** Lists the top-level regular files of a datasets directory with their SHA3-256 and size. */
export function scanDatasets(dir: string): DatasetEntry[] {
  const out: DatasetEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (!st.isFile()) continue;
    out.push({ name, hash: hashFile(p), size: st.size });
  }
  return out;
}

function hashFile(path: string): string {
  const h = new Bun.CryptoHasher("sha3-256");
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(1 << 20);
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}
