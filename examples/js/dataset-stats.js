// A batch algorithm in JS (world cocos:computation/batch): asks the host which datasets it has,
// reads every CSV among them from /datasets, reports progress, and writes /results/summary.json with
// per-column statistics (numeric columns: count, min, max, mean; others: distinct values).
import { listDatasets } from "cocos:computation/datasets@0.1.0";
import { report } from "cocos:computation/progress@0.1.0";
import { preopen, readText, writeText } from "./wasi-files.js";

function summarizeCsv(text) {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, "")).filter((l) => l.length > 0);
  const header = lines[0].split(",");
  const cols = header.map((name) => ({ name, count: 0, min: Infinity, max: -Infinity, sum: 0, values: new Map() }));
  for (const line of lines.slice(1)) {
    const cells = line.split(",");
    cells.forEach((cell, i) => {
      const c = cols[i];
      if (!c) return;
      const v = Number(cell);
      if (cell !== "" && Number.isFinite(v)) {
        c.count++; c.sum += v; c.min = Math.min(c.min, v); c.max = Math.max(c.max, v);
      } else {
        c.values.set(cell, (c.values.get(cell) ?? 0) + 1);
      }
    });
  }
  return {
    rows: lines.length - 1,
    columns: cols.map((c) =>
      c.values.size === 0
        ? { name: c.name, kind: "number", count: c.count, min: c.min, max: c.max, mean: c.count ? c.sum / c.count : null }
        : { name: c.name, kind: "category", counts: Object.fromEntries([...c.values].sort(([a], [b]) => (a < b ? -1 : 1))) },
    ),
  };
}

export const run = {
  run() {
    const datasets = listDatasets();
    const dir = preopen("/datasets");
    const out = { datasets: [] };
    datasets.forEach((d, i) => {
      const entry = { name: d.name, hash: d.hash, size: Number(d.size) };
      if (d.name.toLowerCase().endsWith(".csv")) Object.assign(entry, summarizeCsv(readText(dir, d.name)));
      out.datasets.push(entry);
      report((i + 1) / datasets.length, `summarized ${d.name}`);
    });
    writeText(preopen("/results"), "summary.json", JSON.stringify(out, null, 2) + "\n");
    console.log(`summarized ${datasets.length} dataset(s)`);
  },
};
