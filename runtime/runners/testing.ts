// Test support for the native and docker runners: a fresh work directory in the Cocos layout.
import { readFileSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AlgoType, RunOutcome, RunSpec } from "../types.ts";

export interface WorkDir {
  dir: string;
  algorithmPath: string;
  datasetsDir: string;
  resultsDir: string;
  logs: { stream: "stdout" | "stderr"; line: string }[];
  spec(algoType: AlgoType, extra?: Partial<RunSpec>): RunSpec;
  remove(): Promise<void>;
}

/** Creates workDir with `algo` (the given content), `datasets/` and `results/`. */
export async function makeWorkDir(algorithm: string | Uint8Array, datasets: Record<string, string> = {}): Promise<WorkDir> {
  const dir = await mkdtemp(join(tmpdir(), "cocos-runner-"));
  const algorithmPath = join(dir, "algo");
  const datasetsDir = join(dir, "datasets");
  const resultsDir = join(dir, "results");
  await mkdir(datasetsDir);
  await mkdir(resultsDir);
  await writeFile(algorithmPath, algorithm);
  for (const [name, content] of Object.entries(datasets)) await writeFile(join(datasetsDir, name), content);
  const logs: WorkDir["logs"] = [];
  return {
    dir,
    algorithmPath,
    datasetsDir,
    resultsDir,
    logs,
    spec: (algoType, extra = {}) => ({
      algoType,
      algorithmPath,
      args: [],
      datasetsDir,
      resultsDir,
      workDir: dir,
      onLog: (stream, line) => logs.push({ stream, line }),
      ...extra,
    }),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Describes an outcome for assertion messages. */
export function show(outcome: RunOutcome): string {
  return JSON.stringify(outcome);
}

/** A unique argument to tag a process the algorithm starts (a sandbox's pids mean nothing outside it). */
export function marker(): string {
  return `300.${Math.floor(Math.random() * 1e9)}`;
}

/** Pids of live (non-zombie) processes whose command line contains the argument marker. */
export function processesWith(mark: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (argv.includes(mark) && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z") found.push(Number(entry));
    } catch {
      // exited while scanning
    }
  }
  return found;
}
