// Remote sources and sealed results through the compiled binaries: the Iris dataset is stored on an
// HTTP server for one computation (computations server → dist/cocos-manager, process backend → agent,
// so the source and seal_results cross the ComputationRunReq wire) and in a real OCI registry
// (Debian's docker-registry) for another (dist/cocos-agent --manifest). The agent fetches it itself,
// checks it against the manifest, runs the training (examples/dist/iris-train.wasm, uploaded with
// cocos-cli) and seals the results to the consumers. The results file the host holds is ciphertext no
// other party's key opens; each consumer's `cocos-cli result` (Ed25519 and ECDSA P-256) saves the archive.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { unsealFile } from "../cli/unseal.ts";
import { sha3_256 } from "../protocol/hash.ts";
import { loadPrivateKey, loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { manifestToJSON, parseManifest, runReqFromManifest, type Manifest } from "../protocol/manifest.ts";
import { isSealed } from "../protocol/sealed.ts";
import { ephemeralPort } from "../manager/ports.ts";
import { startComputationsServer, type ComputationsServer } from "../cli/computations-server.ts";
import { killLeftovers, programs, ROOT } from "../scripts/iris-workflow.ts";
import { registryAvailable, startRegistry, type Registry } from "./support/registry.ts";
import { runProgram } from "./support/run.ts";

const STEP_MS = 60_000;
const progs = programs("auto");
const wasm = join(ROOT, "examples", "dist", "iris-train.wasm");
const iris = readFileSync(join(ROOT, "examples", "data", "Iris.csv"));
const work = mkdtempSync(join(tmpdir(), "sealed-sources-"));
const parties = { algo: "algo", data: "data", alice: "alice", bob: "bob", outsider: "outsider" } as const;
let registry: Registry | null = null;
let http: ReturnType<typeof Bun.serve>;

const run = (argv: string[], cwd: string, env: Record<string, string> = {}) => runProgram(argv, cwd, env, STEP_MS);

const dir = (p: string) => join(work, p);
const pub = (p: string) => Buffer.from(publicKeyDer(loadPublicKey(readFileSync(join(dir(p), "public.pem"), "utf8")))).toString("base64");
const priv = (p: string) => loadPrivateKey(readFileSync(join(dir(p), "private.pem"), "utf8"));

beforeAll(async () => {
  for (const [p, type] of [["algo", "ed25519"], ["data", "ed25519"], ["alice", "ed25519"], ["bob", "ecdsa"], ["outsider", "ed25519"]] as const) {
    mkdirSync(dir(p));
    expect((await run([...progs.cli, "keys", "-k", type], dir(p))).code).toBe(0);
  }
  http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => (new URL(req.url).pathname === "/datasets/Iris.csv" ? new Response(iris) : new Response("", { status: 404 })) });
  if (registryAvailable()) registry = await startRegistry();
}, STEP_MS);

afterAll(async () => {
  http?.stop(true);
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

interface Launched {
  port: number;
  /** The agent's log as the host sees it. */
  log: () => string;
  /** The agent's work dir (the host can read it in the process backend). */
  agentDir: string;
  stop(): Promise<void>;
}

function collect(p: ChildProcess, into: (s: string) => void): void {
  p.stdout!.on("data", (d) => into(String(d)));
  p.stderr!.on("data", (d) => into(String(d)));
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  p.kill("SIGTERM");
  await new Promise((r) => p.once("exit", r));
}

/** dist/cocos-agent --manifest FILE, no host channel. */
async function launchAgent(m: Manifest): Promise<Launched> {
  const agentDir = dir(`agent-${m.id}`);
  mkdirSync(agentDir);
  writeFileSync(join(agentDir, "manifest.json"), manifestToJSON(m));
  const port = await ephemeralPort();
  const agent = spawn(progs.agent[0]!, [...progs.agent.slice(1), "--manifest", join(agentDir, "manifest.json")], {
    cwd: agentDir,
    env: { ...process.env, AGENT_GRPC_PORT: String(port), AGENT_GRPC_HOST: "127.0.0.1", AGENT_WORK_DIR: agentDir, AGENT_ATTESTATION: "none", AGENT_HOST_CHANNEL: "none", AGENT_LOG_LEVEL: "debug" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  collect(agent, (d) => (log += d));
  return { port, log: () => log, agentDir, stop: () => stopProcess(agent) };
}

/** A computations server holding the run request, and dist/cocos-manager (process backend) booting the agent. */
async function launchThroughManager(m: Manifest): Promise<Launched> {
  const stateDir = mkdtempSync(join(tmpdir(), "ss-")); // short: host-channel socket paths are ≤ 100 bytes
  const serverPort = await ephemeralPort();
  const server: ComputationsServer = await startComputationsServer({ host: "127.0.0.1", port: serverPort, runReq: runReqFromManifest(m) as unknown as Record<string, unknown> });
  let log = "";
  let port = 0;
  server.onMessage((msg) => {
    if (msg.agent_log?.computation_id === m.id) log += msg.agent_log.message + "\n";
    if (msg.run_res?.computation_id === m.id) port = Number(msg.run_res.agent_port);
  });
  const manager = spawn(progs.manager[0]!, progs.manager.slice(1), {
    cwd: work,
    env: { ...process.env, MANAGER_GRPC_URL: `127.0.0.1:${serverPort}`, MANAGER_BACKEND: "process", MANAGER_AGENT_BIN: progs.agent.join(" "), MANAGER_STATE_DIR: stateDir, MANAGER_STOP_GRACE: "5s" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let managerOut = "";
  collect(manager, (d) => (managerOut += d));
  const launched: Launched = {
    get port() {
      return port;
    },
    log: () => log + (port ? "" : managerOut),
    get agentDir() {
      const vm = readdirSync(join(stateDir, "vms")).find((d) => existsSync(join(stateDir, "vms", d, "agent")));
      return join(stateDir, "vms", vm ?? "none", "agent");
    },
    stop: async () => {
      await stopProcess(manager);
      await server.close();
      killLeftovers(stateDir); // the manager leaves its VMs running for re-adoption; the test ends them
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return launched;
}

/** One computation whose Iris.csv comes from `url`, launched one way or the other. */
async function compute(id: string, url: string, launch: (m: Manifest) => Promise<Launched>): Promise<void> {
  const m = parseManifest({
    id,
    name: id,
    datasets: [{ hash: Array.from(sha3_256(iris)), user_key: pub(parties.data), filename: "Iris.csv", source: { url } }],
    algorithm: { hash: Array.from(sha3_256(readFileSync(wasm))), user_key: pub(parties.algo) },
    result_consumers: [{ user_key: pub(parties.alice) }, { user_key: pub(parties.bob) }],
    agent_config: { port: "0", host: "127.0.0.1", log_level: "debug" },
    seal_results: true,
  });
  const l = await launch(m);
  const until = async (what: string, re: RegExp) => {
    for (let i = 0; i < STEP_MS / 50 && !re.test(l.log()); i++) await Bun.sleep(50);
    if (!re.test(l.log())) throw new Error(`timed out waiting for ${what}:\n${l.log().split("\n").slice(-20).join("\n")}`);
  };
  try {
    await until("agent ready", /"msg":"agent ready"/);
    const env = { AGENT_GRPC_URL: `127.0.0.1:${l.port}`, COCOS_COMPUTATION_ID: id };
    const algo = await run([...progs.cli, "algo", wasm, "private.pem", "-a", "wasm"], dir(parties.algo), env);
    expect(algo.code, algo.out).toBe(0);
    // No upload of Iris.csv: the agent fetches it.
    await until("the run", /computation run completed|computation run failed|remote dataset refused/);
    expect(l.log()).toContain('"msg":"remote dataset received"');
    expect(l.log()).toContain("computation run completed");

    // The host's copy (the agent's disk, a relay) is sealed; neither another party's key nor an outsider's opens it.
    const heldPath = join(l.agentDir, "results.zip");
    const held = readFileSync(heldPath);
    expect(isSealed(held)).toBe(true);
    for (const p of [parties.outsider, parties.data]) {
      const err = await unsealFile(heldPath, join(work, `${id}-${p}.zip`), priv(p)).then(() => null, (e) => e as Error);
      expect(err?.message).toContain("is not one of them");
    }

    // Each consumer's cocos-cli opens it with its own key.
    let first: ReturnType<typeof unzipSync> | null = null;
    for (const p of [parties.alice, parties.bob]) {
      const res = await run([...progs.cli, "result", "private.pem", `${id}.zip`], dir(p), env);
      expect(res.code, res.out).toBe(0);
      const files = unzipSync(readFileSync(join(dir(p), `${id}.zip`)));
      expect(Object.keys(files).length).toBeGreaterThan(0);
      first ??= files;
      expect(files).toEqual(first);
      // The training's output is what the sealed copy hid.
      const someFile = Object.values(files)[0]!;
      expect(held.includes(Buffer.from(someFile.subarray(0, Math.min(32, someFile.length))))).toBe(false);
    }
  } finally {
    await l.stop();
  }
}

test("Iris.csv on an HTTP server, through the manager: fetched by the agent, trained on, results sealed to the two consumers", async () => {
  expect(existsSync(wasm)).toBe(true);
  await compute("sealed-http", `http://127.0.0.1:${http.port}/datasets/Iris.csv`, launchThroughManager);
}, 2 * STEP_MS);

test.skipIf(!registryAvailable())("Iris.csv in an OCI registry (pinned by digest): fetched, verified, trained on, sealed", async () => {
  const { manifestDigest } = await registry!.push("datasets/iris", "v1", [{ bytes: iris, title: "Iris.csv" }]);
  await compute("sealed-oci", `oci://${registry!.host}/datasets/iris@${manifestDigest}`, launchAgent);
}, 2 * STEP_MS);
