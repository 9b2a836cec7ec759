// The console end to end, every program compiled (dist/) when built: register through the API,
// create the Iris training computation with three parties whose keys are made by cocos-cli, start a
// run on a process-backend manager, upload as each party with cocos-cli to the agent address and
// policy the API gives, and watch the timeline (SSE) reach completion. Midway the console is killed
// (SIGKILL) and started again: nothing stored is lost and the run's timeline continues once the
// manager reconnects.
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { IRIS, cli, seedIris, startConsoleProgram } from "../scripts/console.ts";
import { ownerWithManager, runUp, until, withConsoleStack } from "./support/console-stack.ts";

const bins = (process.env.COCOS_E2E_BINS as "dist" | "source" | undefined) ?? "auto";

/** Reads a computation's SSE stream until `done` holds for the text received. */
async function watchStream(url: string, token: string, path: string, done: (text: string) => boolean): Promise<string> {
  const r = await fetch(url + path, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(90_000) });
  const reader = r.body!.getReader();
  let text = "";
  while (!done(text)) {
    const { value, done: end } = await reader.read();
    if (end) break;
    text += new TextDecoder().decode(value);
  }
  await reader.cancel().catch(() => {});
  return text;
}

test(
  "console: Iris through the API, compiled manager and CLI; the console killed mid-run loses nothing",
  async () => {
    await withConsoleStack("console-e2e-", async (stack) => {
      const { workDir, httpPort, grpcPort, running, show } = stack;
      let { program: consoleProgram, url } = await startConsoleProgram({ workDir, bins, httpPort, grpcPort, show, env: { CONSOLE_STOP_AFTER_COMPLETE: "1s" } });
      running.push(consoleProgram);
      const owner = await ownerWithManager(url, stack, bins, "e2e");

      const { computationId: id, parties } = await seedIris(owner, { workDir, bins });
      const [algo, data, consumer] = parties as [(typeof parties)[0], (typeof parties)[0], (typeof parties)[0]];

      // The preview's hash is what `cocos-cli checksum --manifest` computes for the same JSON.
      const manifest = await owner.call("GET", `/api/computations/${id}/manifest`);
      writeFileSync(join(workDir, "manifest.json"), manifest.json);
      const sum = await cli(bins, workDir, ["checksum", "--manifest", join(workDir, "manifest.json")]);
      expect(sum.join("\n")).toContain(manifest.sha3_256);
      expect(JSON.parse(manifest.json).signatures).toBe("v2-only");

      const { run } = await owner.call("POST", `/api/computations/${id}/runs`, { manager_id: "local" });
      const ready = await runUp(consumer.api, run.id);
      expect(ready.run.agent_address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(ready.run.manifest_sha3_256).toBe(manifest.sha3_256);
      // The agent answers only once it has taken the manifest: wait for its "agent ready" log.
      await until(async () => (await owner.call("GET", `/api/computations/${id}/events?kind=log&limit=1000`)).events.some((e: { details: string }) => e.details.includes("agent ready")), "agent ready");

      // Evidence through the console for a nonce of the consumer's: the relayed bytes verify with the
      // CLI against the run's policy and that nonce; one flipped byte does not.
      const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(64))).toString("hex");
      const ev = await consumer.api.call("POST", `/api/runs/${run.id}/attestation`, { nonce });
      expect(ev.manifest_sha3_256).toBe(manifest.sha3_256);
      writeFileSync(join(consumer.dir, "relayed.policy.json"), JSON.stringify(ev.policy));
      const evidence = Buffer.from(ev.evidence_base64, "base64");
      writeFileSync(join(consumer.dir, "attestation.bin"), evidence);
      const valid = await cli(bins, consumer.dir, ["attestation", "validate", "attestation.bin", "--policy", "relayed.policy.json", "--nonce", nonce]);
      expect(valid.join("\n")).toContain("successful");
      evidence[evidence.length >> 1]! ^= 1;
      writeFileSync(join(consumer.dir, "flipped.bin"), evidence);
      await expect(cli(bins, consumer.dir, ["attestation", "validate", "flipped.bin", "--policy", "relayed.policy.json", "--nonce", nonce])).rejects.toThrow();
      const otherNonce = "00".repeat(64);
      await expect(cli(bins, consumer.dir, ["attestation", "validate", "attestation.bin", "--policy", "relayed.policy.json", "--nonce", otherNonce])).rejects.toThrow();

      // Each party downloads the policy and runs the CLI with the environment the API gives.
      const policy = await algo.api.call("GET", `/api/runs/${run.id}/policy`);
      const env = { ...ready.cli.env } as Record<string, string>;
      for (const p of parties) writeFileSync(join(p.dir, ready.cli.policy_file), JSON.stringify(policy));
      const algoOut = await cli(bins, algo.dir, ["algo", IRIS.algorithm, "private.pem", "-a", "wasm"], env);
      expect(algoOut.join("\n")).toMatch(/Attestation verified|uploaded|Successfully/i);

      // Fault: the console dies mid-run and comes back on the same database and ports.
      const before = (await owner.call("GET", `/api/computations/${id}/events?limit=1000`)).events;
      consoleProgram.child.kill("SIGKILL");
      await consoleProgram.exited;
      running.splice(running.indexOf(consoleProgram), 1);
      ({ program: consoleProgram, url } = await startConsoleProgram({ workDir, bins, httpPort, grpcPort, show, env: { CONSOLE_STOP_AFTER_COMPLETE: "1s" } }));
      running.push(consoleProgram);
      const after = (await owner.call("GET", `/api/computations/${id}/events?limit=1000`)).events;
      expect(after.slice(0, before.length)).toEqual(before);
      await until(async () => (await owner.call("GET", "/api/managers")).managers[0].connected, "the manager to reconnect");

      // The timeline continues: the rest of the run arrives on the restarted console, live over SSE.
      const watching = watchStream(url, consumer.api.token, `/api/computations/${id}/events/stream?run=${run.id}`, (t) => t.includes('"event_type":"ConsumingResults"'));
      await cli(bins, data.dir, ["data", IRIS.dataset, "private.pem"], env);
      const stream = await watching;
      expect(stream).toContain("event: timeline");
      await until(async () => (await owner.call("GET", `/api/runs/${run.id}`)).run.state === "results_ready", "results ready");
      await cli(bins, consumer.dir, ["result", "private.pem", "result.zip"], env);
      const files = unzipSync(readFileSync(join(consumer.dir, "result.zip")));
      expect(Object.keys(files)).toContain("model.json");
      const done = await until(async () => {
        const r = (await owner.call("GET", `/api/runs/${run.id}`)).run;
        return r.state === "completed" ? r : null;
      }, "the run to complete");
      expect(done.ended_at).toBeGreaterThan(0);

      const events = (await owner.call("GET", `/api/computations/${id}/events?run=${run.id}&limit=1000`)).events as { id: number; event_type: string; status: string; source: string }[];
      const line = events.map((e) => `${e.source}:${e.event_type}/${e.status}`);
      expect(line).toContain("manager:VmProvision/Completed");
      expect(line).toContain("agent:ReceivingAlgorithm/InProgress");
      expect(line).toContain("agent:ConsumingResults/Ready");
      expect(line).toContain("agent:Complete/Completed");
      // The restarted console noted the manager's return on the run's timeline, after what was stored before.
      const back = events.findIndex((e) => e.source === "console" && e.event_type === "ManagerLink" && e.status === "Connected");
      expect(back).toBeGreaterThan(events.findIndex((e) => e.event_type === "ReceivingAlgorithm"));
      expect(events.findIndex((e) => e.event_type === "ConsumingResults")).toBeGreaterThan(back);
      // The console stops the VM once the results are consumed (and the download had time to end).
      await until(async () => (await owner.call("GET", `/api/computations/${id}/events?run=${run.id}&limit=1000`)).events.some((e: { event_type: string; status: string }) => e.event_type === "StopComputationRun" && e.status === "Completed"), "the VM to stop");
    });
  },
  180_000,
);
