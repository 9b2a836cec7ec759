// The adversary is the host: through the real computations server, manager (process backend) and
// agent, with cocos-cli as three parties, a Wasm algorithm prints a dataset row (a unique marker) to
// stdout and stderr. The marker must appear nowhere the host can read: no AgentLog or AgentEvent the
// computations server received, no line of the manager's output, no file in the manager's state dir
// (the agent's stdout/stderr logs included; only the agent's own work dir, which stands for the
// enclave's disk in the process backend, is left out). With guest_output "results" the consumer's
// results.zip carries it; by default it does not.
import { expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { join, relative } from "node:path";
import { unzipSync } from "fflate";
import { ephemeralPort } from "../manager/ports.ts";
import { printerWasm } from "../agent/testdata/printer.ts";
import { GUEST_OUTPUT_DIR } from "../agent/guest-output.ts";
import { startComputationsServer, type ClientStreamMessage, type ComputationsServer } from "../cli/computations-server.ts";
import { sha3_256 } from "../protocol/hash.ts";
import { loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { runReqFromManifest, type GuestOutputPolicy, type Manifest } from "../protocol/manifest.ts";
import { killLeftovers, programs } from "../scripts/iris-workflow.ts";
import { runProgram } from "./support/run.ts";

const MARKER = "row-42-SSN-078-05-1120-a9f3e1c7";
const STEP_MS = 60_000;

async function until<T>(what: string, fn: () => T | undefined, context: () => string): Promise<T> {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await Bun.sleep(50);
  }
}

const run = (argv: string[], cwd: string, env: Record<string, string> = {}) => runProgram(argv, cwd, env, STEP_MS);

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

test(
  "a dataset row printed by the algorithm never reaches the host; results.zip has it only with guest_output=results",
  async () => {
    const progs = programs("auto");
    const work = mkdtempSync(join(tmpdir(), "guest-output-e2e-"));
    const stateDir = join(work, "state");
    const parties = { algo: join(work, "algo"), data: join(work, "data"), consumer: join(work, "consumer") };
    let manager: ChildProcess | null = null;
    let server: ComputationsServer | null = null;
    const managerOut: string[] = [];
    const received: ClientStreamMessage[] = [];
    try {
      for (const d of Object.values(parties)) mkdirSync(d);
      for (const d of Object.values(parties)) expect((await run([...progs.cli, "keys", "-k", "ed25519"], d)).code).toBe(0);
      const key = (d: string) => publicKeyDer(loadPublicKey(readFileSync(join(d, "public.pem"), "utf8")));
      const wasm = printerWasm();
      writeFileSync(join(parties.algo, "printer.wasm"), wasm);
      const rows = `name,ssn\nalice,${MARKER}\n`;
      writeFileSync(join(parties.data, "rows.csv"), rows);

      const serverPort = await ephemeralPort();
      const httpPort = await ephemeralPort();
      const httpToken = randomBytes(24).toString("hex");
      const context = () =>
        `--- manager ---\n${managerOut.join("").split("\n").slice(-20).join("\n")}\n--- received ---\n${received
          .slice(-15)
          .map((m) => JSON.stringify(m))
          .join("\n")}`;

      const compute = async (mode: GuestOutputPolicy | undefined): Promise<Record<string, Uint8Array>> => {
        const id = `guest-${mode ?? "default"}`;
        const m: Manifest = {
          id,
          name: id,
          description: "guest output adversary test",
          datasets: [{ hash: sha3_256(rows), user_key: key(parties.data), filename: "rows.csv" }],
          algorithm: { hash: sha3_256(wasm), user_key: key(parties.algo) },
          result_consumers: [{ user_key: key(parties.consumer) }],
          agent_config: { port: "7002", log_level: "debug" },
          ...(mode ? { guest_output: mode } : {}),
        };
        await server?.close();
        server = await startComputationsServer({ host: "127.0.0.1", port: serverPort, runReq: runReqFromManifest(m) as unknown as Record<string, unknown> });
        server.onMessage((msg) => received.push(msg));
        manager ??= (() => {
          const p = spawn(progs.manager[0]!, progs.manager.slice(1), {
            cwd: work,
            env: {
              ...process.env,
              MANAGER_GRPC_URL: `127.0.0.1:${serverPort}`, MANAGER_BACKEND: "process", MANAGER_AGENT_BIN: progs.agent.join(" "), MANAGER_STATE_DIR: stateDir,
              MANAGER_HTTP_HOST: "127.0.0.1", MANAGER_HTTP_PORT: String(httpPort), MANAGER_HTTP_TOKEN: httpToken, MANAGER_STOP_GRACE: "5s",
              // Reconnects within a second when the next computation's server comes up.
              MANAGER_GRPC_RECONNECT_INITIAL: "200ms", MANAGER_GRPC_RECONNECT_MAX: "1s",
            },
            stdio: ["ignore", "pipe", "pipe"],
          });
          p.stdout!.on("data", (d) => managerOut.push(String(d)));
          p.stderr!.on("data", (d) => managerOut.push(String(d)));
          return p;
        })();
        const port = await until("the run response", () => received.find((r) => r.run_res?.computation_id === id)?.run_res?.agent_port, context);
        await until("agent ready", () => (received.some((r) => r.agent_log?.computation_id === id && r.agent_log.message.includes('"msg":"agent ready"')) ? true : undefined), context);
        const env = { AGENT_GRPC_URL: `127.0.0.1:${port}`, COCOS_COMPUTATION_ID: id };
        const algo = await run([...progs.cli, "algo", "printer.wasm", "private.pem", "-a", "wasm"], parties.algo, env);
        expect(algo.code, algo.out).toBe(0);
        const data = await run([...progs.cli, "data", "rows.csv", "private.pem"], parties.data, env);
        expect(data.code, data.out).toBe(0);
        const status = await until(
          "the end of the run",
          () => received.find((r) => r.agent_event?.computation_id === id && ["ConsumingResults", "Failed"].includes(r.agent_event.event_type))?.agent_event?.event_type,
          context,
        );
        expect(status, context()).toBe("ConsumingResults");
        const res = await run([...progs.cli, "result", "private.pem", `${id}.zip`], parties.consumer, env);
        expect(res.code, res.out).toBe(0);
        // What the host holds while the computation is alive (the manager removes it at the stop).
        const hostFiles = filesUnder(stateDir).filter((f) => !/^vms\/[^/]+\/agent\//.test(relative(stateDir, f)));
        for (const f of hostFiles) snapshot.push({ name: relative(stateDir, f), bytes: readFileSync(f) });
        const stopped = await fetch(`http://127.0.0.1:${httpPort}/vms/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${httpToken}` }, signal: AbortSignal.timeout(STEP_MS) });
        expect(stopped.ok).toBe(true);
        return unzipSync(readFileSync(join(parties.consumer, `${id}.zip`)));
      };

      const snapshot: { name: string; bytes: Buffer }[] = [];
      const withOutput = await compute("results");
      const kept = await compute(undefined);
      manager!.kill("SIGTERM");
      await new Promise((r) => manager!.once("exit", r));

      // The consumer: the algorithm's result always, its printed output only when the manifest asks.
      expect(new TextDecoder().decode(withOutput["out.txt"])).toBe("2 lines\n");
      expect(new TextDecoder().decode(withOutput[`${GUEST_OUTPUT_DIR}/stdout.txt`])).toContain(MARKER);
      expect(new TextDecoder().decode(withOutput[`${GUEST_OUTPUT_DIR}/stderr.txt`])).toContain(MARKER);
      expect(Object.keys(kept)).toEqual(["out.txt"]);

      // The host: everything the control plane received (both computations did log and report)…
      const wire = received.map((m) => JSON.stringify(m, (_k, v) => (v instanceof Uint8Array || (v && v.type === "Buffer") ? Buffer.from(v.data ?? v).toString("latin1") : v)));
      expect(wire.some((l) => l.includes("computation run completed") && l.includes("guest-results"))).toBe(true);
      expect(wire.some((l) => l.includes("AlgorithmRun"))).toBe(true);
      for (const l of wire) expect(l).not.toContain(MARKER);
      // …the manager's own output…
      expect(managerOut.join("")).not.toContain(MARKER);
      // …every file of its state dir while each computation ran, except the agent's work dir (the
      // enclave's disk)…
      const agentLogs = snapshot.filter((f) => f.name.endsWith("agent.stdout.log"));
      expect(agentLogs.length).toBe(2);
      for (const f of agentLogs) expect(f.bytes.length).toBeGreaterThan(0);
      for (const f of snapshot) expect(f.bytes.includes(MARKER), f.name).toBe(false);
      // …and nothing of either computation is left once they ended.
      expect(filesUnder(stateDir).filter((f) => relative(stateDir, f).startsWith("vms/"))).toEqual([]);
    } finally {
      (manager as ChildProcess | null)?.kill("SIGKILL");
      killLeftovers(join(work, "state")); // VMs a failed run left behind (the manager keeps them for re-adoption)
      await (server as ComputationsServer | null)?.close();
      rmSync(work, { recursive: true, force: true });
    }
  },
  240_000,
);
