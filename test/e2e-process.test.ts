// End to end on one machine: computations server + manager (process backend) + agent + cocos-cli as
// three parties with three key pairs, each a separate program (compiled dist/ binaries when all three
// exist, else the sources under bun). Iris training, then inference with the trained model as a
// dataset and the blog's JSON args → Iris-versicolor.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runIrisWorkflow } from "../scripts/iris-workflow.ts";

test(
  "Iris workflow through computations server, manager, agent and CLI (process backend)",
  async () => {
    const workDir = mkdtempSync(join(tmpdir(), "cocos-e2e-"));
    const trace: string[] = [];
    try {
      const r = await runIrisWorkflow({
        workDir,
        backend: "process",
        bins: (process.env.COCOS_E2E_BINS as "dist" | "source" | undefined) ?? "auto",
        say: (l) => trace.push(l),
        show: (p, l) => trace.push(`[${p}] ${l}`),
      }).catch((e) => {
        throw new Error(`${(e as Error).message}\n--- trace ---\n${trace.slice(-60).join("\n")}`);
      });
      expect(r.prediction).toBe("Iris-versicolor");
      const events = r.serverLines.filter((l) => / event /.test(l));
      // The control plane saw the manager's and the agent's events for the inference computation.
      expect(events.some((l) => l.includes("VmProvision/Completed") && l.includes("computation=iris-infer"))).toBe(true);
      expect(events.some((l) => l.includes("Running/Completed") && l.includes("computation=iris-infer"))).toBe(true);
      expect(events.some((l) => l.includes("ConsumingResults/Ready"))).toBe(true);
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  },
  180_000,
);
