// Benchmark entry point: `bun run bench -- <suite>...` (no suite = all). Each suite is a module
// bench/<suite>.ts exporting `run(): Promise<object>`; its result is written to
// bench/results/<suite>.json. Add a suite by adding a line to SUITES.

import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

type Suite = { run(): Promise<object> };

export const SUITES: Record<string, () => Promise<Suite>> = {
  runtime: () => import("./runtime.ts"),
  attestation: () => import("./attestation.ts"),
  boot: () => import("./boot.ts"),
  upload: () => import("./upload.ts"),
  soak: () => import("./soak.ts"),
  console: () => import("./console.ts"),
  nn: () => import("./nn.ts"),
};

export const RESULTS_DIR = join(import.meta.dir, "results");

/** Writes a suite's result atomically as pretty JSON; returns the path. */
export function writeResult(suite: string, result: object): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${suite}.json`);
  writeFileSync(`${path}.tmp`, JSON.stringify(result, null, 2) + "\n");
  renameSync(`${path}.tmp`, path);
  return path;
}

if (import.meta.main) {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const unknown = asked.filter((s) => !(s in SUITES));
  if (unknown.length) {
    console.error(`unknown suite(s): ${unknown.join(", ")}; expected one of: ${Object.keys(SUITES).join(", ")}`);
    process.exit(2);
  }
  for (const name of asked.length ? asked : Object.keys(SUITES)) {
    console.log(`== bench ${name}`);
    const suite = await SUITES[name]!();
    const result = await suite.run();
    console.log(`wrote ${writeResult(name, result)}`);
  }
}
