// A console computation on sealed data, end to end on the process backend (compiled binaries when
// built): the dataset is declared encrypted with its kbs_resource_path, the manifest names the
// console's own KBS, the owner stores the key through the console's KBS API, the data provider
// uploads `cocos-cli encrypt` ciphertext with `cocos-cli data`, and the agent gets the key from the
// console after attestation and completes the run. Then the key's policy names another measurement:
// the next run's agent is refused the key and the upload fails. Between them the same ciphertext
// comes from a remote http source (a Bun.serve on 127.0.0.1) that the agent fetches itself.
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { IRIS, cli, seedIris, startConsoleProgram } from "../scripts/console.ts";
import { ownerWithManager, runUp, until, withConsoleStack } from "./support/console-stack.ts";

const bins = (process.env.COCOS_E2E_BINS as "dist" | "source" | undefined) ?? "auto";
const KEY_PATH = "default/key/iris";

test(
  "console: an encrypted dataset (uploaded, then from a remote http source) gets its key from the console's KBS after attestation; refused for another measurement",
  async () => {
    await withConsoleStack("csl-", async (stack) => {
      const { workDir, httpPort, grpcPort, running, show } = stack;
      const { program, url } = await startConsoleProgram({ workDir, bins, httpPort, grpcPort, show, env: { CONSOLE_STOP_AFTER_COMPLETE: "1s" } });
      running.push(program);
      const owner = await ownerWithManager(url, stack, bins, "sealed e2e");

      const { computationId: id, parties } = await seedIris(owner, { workDir, bins });
      const [algo, data, consumer] = parties as [(typeof parties)[0], (typeof parties)[0], (typeof parties)[0]];

      // The data provider seals Iris.csv (same file name, so it matches the registered asset) and declares it encrypted.
      await cli(bins, data.dir, ["keys", "--symmetric"]);
      mkdirSync(join(data.dir, "sealed"));
      await cli(bins, data.dir, ["encrypt", "symmetric.key", IRIS.dataset, join("sealed", "Iris.csv")]);
      const dataset = (await owner.call("GET", `/api/computations/${id}`)).assets.find((a: { kind: string }) => a.kind === "dataset");
      await data.api.call("PUT", `/api/computations/${id}/assets/${dataset.id}/source`, { encrypted: true, kbs_resource_path: KEY_PATH });

      // The manifest names the console's own KBS; its hash is what cocos-cli checksum --manifest computes.
      const manifest = await owner.call("GET", `/api/computations/${id}/manifest`);
      expect(JSON.parse(manifest.json).datasets[0]).toMatchObject({ source: { kbs_resource_path: KEY_PATH, encrypted: true }, kbs: { url, enabled: true } });
      writeFileSync(join(workDir, "manifest.json"), manifest.json);
      expect((await cli(bins, workDir, ["checksum", "--manifest", join(workDir, "manifest.json")])).join("\n")).toContain(manifest.sha3_256);

      // A new run of the same computation gets a new VM only once the old one is gone.
      const vmGone = (runId: string) =>
        until(async () => (await owner.call("GET", `/api/computations/${id}/events?run=${runId}&limit=1000`)).events.some((e: { event_type: string; status: string }) => e.event_type === "StopComputationRun" && e.status === "Completed"), "the run's VM to stop");

      /** Starts a run, stores the key (policy: the run's own, from its manager, with `measurement` over it) and uploads the algorithm. */
      const startRun = async (measurement?: string) => {
        const { run } = await owner.call("POST", `/api/computations/${id}/runs`, { manager_id: "local" });
        const ready = await runUp(consumer.api, run.id);
        await until(async () => (await owner.call("GET", `/api/computations/${id}/events?run=${run.id}&kind=log&limit=1000`)).events.some((e: { details: string }) => e.details.includes("agent ready")), "agent ready");
        const secret = readFileSync(join(data.dir, "symmetric.key")).toString("base64");
        await owner.call("PUT", `/api/computations/${id}/kbs/${KEY_PATH}`, { secret, ...(measurement ? { measurement } : {}) });
        const policy = await algo.api.call("GET", `/api/runs/${run.id}/policy`);
        for (const p of parties) writeFileSync(join(p.dir, ready.cli.policy_file), JSON.stringify(policy));
        const env = { ...ready.cli.env } as Record<string, string>;
        await cli(bins, algo.dir, ["algo", IRIS.algorithm, "private.pem", "-a", "wasm"], env);
        return { run, env };
      };

      const first = await startRun();
      await cli(bins, data.dir, ["data", join("sealed", "Iris.csv"), "private.pem"], first.env);
      await until(async () => (await owner.call("GET", `/api/runs/${first.run.id}`)).run.state === "results_ready", "results ready");
      await cli(bins, consumer.dir, ["result", "private.pem", "result.zip"], first.env);
      expect(Object.keys(unzipSync(readFileSync(join(consumer.dir, "result.zip"))))).toContain("model.json");
      await until(async () => (await owner.call("GET", `/api/runs/${first.run.id}`)).run.state === "completed", "the run to complete");
      const released = (await owner.call("GET", `/api/computations/${id}/events?run=${first.run.id}&limit=1000`)).events.map((e: { details: string }) => e.details).join("\n");
      expect(released).not.toContain("key release for dataset Iris.csv failed");

      await vmGone(first.run.id);

      // The same ciphertext from a remote http source: the agent fetches it itself and gets the key the same way.
      const sealed = readFileSync(join(data.dir, "sealed", "Iris.csv"));
      let fetched = 0;
      const remote = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => (fetched++, new Response(sealed)) });
      try {
        const source_url = `http://127.0.0.1:${remote.port}/Iris.csv.enc`;
        await data.api.call("PUT", `/api/computations/${id}/assets/${dataset.id}/source`, { source_url, encrypted: true, kbs_resource_path: KEY_PATH });
        expect(JSON.parse((await owner.call("GET", `/api/computations/${id}/manifest`)).json).datasets[0].source).toEqual({ url: source_url, kbs_resource_path: KEY_PATH, encrypted: true });
        const fromRemote = await startRun();
        await until(async () => (await owner.call("GET", `/api/runs/${fromRemote.run.id}`)).run.state === "results_ready", "results ready from the remote source");
        expect(fetched).toBeGreaterThan(0);
        await cli(bins, consumer.dir, ["result", "private.pem", "remote.zip"], fromRemote.env);
        expect(Object.keys(unzipSync(readFileSync(join(consumer.dir, "remote.zip"))))).toContain("model.json");
        await vmGone(fromRemote.run.id);
      } finally {
        remote.stop(true);
      }
      await data.api.call("PUT", `/api/computations/${id}/assets/${dataset.id}/source`, { encrypted: true, kbs_resource_path: KEY_PATH });

      // The stored key now names another measurement: the same manifest's next enclave gets nothing.
      const other = "07".repeat(48);
      const second = await startRun(other);
      const refused = await cli(bins, data.dir, ["data", join("sealed", "Iris.csv"), "private.pem"], second.env).then(
        () => "",
        (e: Error) => e.message,
      );
      expect(refused).toContain("key release for dataset Iris.csv failed");
      expect(refused).toContain("measurement");
      expect(refused).toContain(other.slice(0, 16));
    });
  },
  180_000,
);
