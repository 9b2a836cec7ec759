// End to end on one machine: computations server + manager (process backend) + agent + cocos-cli as
// three parties with three key pairs, each a separate program (compiled dist/ binaries when all three
// exist, else the sources under bun). Attested TLS with the manager's sim secure processor; Iris
// training, then inference with the trained model as a dataset and the blog's JSON args →
// Iris-versicolor. Bad inputs through the real programs on the way: wrong party key, a policy for
// another manifest, a result asked for too early.
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runIrisWorkflow } from "../scripts/iris-workflow.ts";

test(
  "Iris workflow through computations server, manager, agent and CLI (process backend, attested TLS)",
  async () => {
    const workDir = mkdtempSync(join(tmpdir(), "cocos-e2e-"));
    const trace: string[] = [];
    const probes: Record<string, string> = {};
    try {
      const r = await runIrisWorkflow({
        workDir,
        backend: "process",
        bins: (process.env.COCOS_E2E_BINS as "dist" | "source" | undefined) ?? "auto",
        nn: true,
        say: (l) => trace.push(l),
        show: (p, l) => trace.push(`[${p}] ${l}`),
        probe: async (id, env, run) => {
          if (id !== "iris-train") return;
          const algo = join(ROOT, "examples", "dist", "iris-train.wasm");
          // The consumer's key is not the algorithm provider's: refused before anything is stored.
          const wrongKey = await run("consumer", ["algo", algo, "private.pem", "-a", "wasm"], env);
          probes.wrongKey = `${wrongKey.code}\n${wrongKey.lines.join("\n")}`;
          // Results before the run: the state machine says not yet.
          const early = await run("consumer", ["result", "private.pem"], env);
          probes.early = `${early.code}\n${early.lines.join("\n")}`;
          // A policy that expects another manifest (host_data): the CLI refuses to talk to the agent.
          const policy = JSON.parse(readFileSync(env.AGENT_GRPC_ATTESTATION_POLICY!, "utf8"));
          policy.policy.host_data = Buffer.alloc(32, 7).toString("base64");
          const other = join(workDir, "other-manifest.policy.json");
          writeFileSync(other, JSON.stringify(policy));
          const mismatch = await run("algo-provider", ["algo", algo, "private.pem", "-a", "wasm"], { ...env, AGENT_GRPC_ATTESTATION_POLICY: other });
          probes.mismatch = `${mismatch.code}\n${mismatch.lines.join("\n")}`;
          // attestation get (fresh nonce) → attestation.bin (--force: once per computation), then offline
          // validate against the policy; the report data is the nonce's Attestation RPC digest.
          const rd = "ab".repeat(64);
          const get = await run("consumer", ["attestation", "get", rd, "--force"], env);
          const validate = await run("consumer", ["attestation", "validate", "attestation.bin", "--policy", env.AGENT_GRPC_ATTESTATION_POLICY!, "--nonce", rd], env);
          probes.attestation = `${get.code} ${validate.code}\n${get.lines.join("\n")}\n${validate.lines.join("\n")}`;
        },
      }).catch((e) => {
        throw new Error(`${(e as Error).message}\n--- trace ---\n${trace.slice(-60).join("\n")}`);
      });
      expect(r.prediction).toBe("Iris-versicolor");
      // wasi-nn: iris-nn.wasm served the exported model.onnx through the agent's ONNX Runtime.
      expect(r.nnPrediction).toBe("Iris-versicolor");
      const events = r.serverLines.filter((l) => / event /.test(l));
      // The control plane saw the manager's and the agent's events for the inference computation.
      expect(events.some((l) => l.includes("VmProvision/Completed") && l.includes("computation=iris-infer"))).toBe(true);
      expect(events.some((l) => l.includes("Running/Completed") && l.includes("computation=iris-infer"))).toBe(true);
      expect(events.some((l) => l.includes("ConsumingResults/Ready"))).toBe(true);

      expect(probes.wrongKey).toStartWith("1\n");
      expect(probes.wrongKey).toContain("permission denied");
      expect(probes.wrongKey).toContain("not declared for this role");
      expect(probes.early).toStartWith("1\n");
      expect(probes.early).toContain("not ready");
      expect(probes.mismatch).toStartWith("1\n");
      expect(probes.mismatch).toContain("did not prove it runs what the policy expects; nothing was sent");
      expect(probes.mismatch).toContain("host_data");
      if (process.env.TEST_DEBUG) console.log(probes.attestation);
      expect(probes.attestation).toStartWith("0 0\n");
      expect(probes.attestation).toContain("Attestation validation and verification is successful!");
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  },
  240_000,
);
