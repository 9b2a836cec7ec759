// Remote sources and sealed results through the compiled binaries: the Iris dataset is stored in a
// real OCI registry (Debian's docker-registry) for one computation and on an HTTP server for
// another; the agent (dist/cocos-agent) fetches it itself, checks it against the manifest, runs the
// training (examples/dist/iris-train.wasm, uploaded with cocos-cli) and seals the results to the
// consumers. The results file the host holds is ciphertext no other party's key opens; each consumer's
// `cocos-cli result` (an Ed25519 and an ECDSA P-256 consumer) saves the plain archive.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { unsealFile } from "../cli/unseal.ts";
import { sha3_256 } from "../protocol/hash.ts";
import { loadPrivateKey, loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { manifestToJSON, parseManifest } from "../protocol/manifest.ts";
import { isSealed } from "../protocol/sealed.ts";
import { ephemeralPort } from "../manager/ports.ts";
import { programs, ROOT } from "../scripts/iris-workflow.ts";
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

/** One computation whose Iris.csv comes from `url`; returns the consumers' archives. */
async function compute(id: string, url: string): Promise<void> {
  const m = parseManifest({
    id,
    name: id,
    datasets: [{ hash: Array.from(sha3_256(iris)), user_key: pub(parties.data), filename: "Iris.csv", source: { url } }],
    algorithm: { hash: Array.from(sha3_256(readFileSync(wasm))), user_key: pub(parties.algo) },
    result_consumers: [{ user_key: pub(parties.alice) }, { user_key: pub(parties.bob) }],
    agent_config: { port: "0", host: "127.0.0.1" },
    seal_results: true,
  });
  const agentDir = dir(`agent-${id}`);
  mkdirSync(agentDir);
  writeFileSync(join(agentDir, "manifest.json"), manifestToJSON(m));
  const port = await ephemeralPort();
  const agent = spawn(progs.agent[0]!, [...progs.agent.slice(1), "--manifest", join(agentDir, "manifest.json")], {
    cwd: agentDir,
    env: { ...process.env, AGENT_GRPC_PORT: String(port), AGENT_GRPC_HOST: "127.0.0.1", AGENT_WORK_DIR: agentDir, AGENT_ATTESTATION: "none", AGENT_HOST_CHANNEL: "none", AGENT_LOG_LEVEL: "debug" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  agent.stdout!.on("data", (d) => (log += d));
  agent.stderr!.on("data", (d) => (log += d));
  const until = async (what: string, re: RegExp) => {
    for (let i = 0; i < STEP_MS / 50 && !re.test(log); i++) await Bun.sleep(50);
    if (!re.test(log)) throw new Error(`timed out waiting for ${what}:\n${log.split("\n").slice(-20).join("\n")}`);
  };
  try {
    await until("agent ready", /"msg":"agent ready"/);
    const env = { AGENT_GRPC_URL: `127.0.0.1:${port}`, COCOS_COMPUTATION_ID: id };
    const algo = await run([...progs.cli, "algo", wasm, "private.pem", "-a", "wasm"], dir(parties.algo), env);
    expect(algo.code, algo.out).toBe(0);
    // No upload of Iris.csv: the agent fetches it.
    await until("the run", /computation run completed|computation run failed|remote dataset refused/);
    expect(log).toContain('"msg":"remote dataset received"');
    expect(log).toContain("computation run completed");

    // The host's copy (the agent's disk, a relay) is sealed; neither another party's key nor an outsider's opens it.
    const held = readFileSync(join(agentDir, "results.zip"));
    expect(isSealed(held)).toBe(true);
    for (const p of [parties.outsider, parties.data]) {
      const err = await unsealFile(join(agentDir, "results.zip"), join(work, `${id}-${p}.zip`), priv(p)).then(() => null, (e) => e as Error);
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
    agent.kill("SIGTERM");
    await new Promise((r) => (agent.exitCode !== null ? r(null) : agent.once("exit", r)));
  }
}

test("Iris.csv on an HTTP server: fetched by the agent, trained on, results sealed to the two consumers", async () => {
  expect(existsSync(wasm)).toBe(true);
  await compute("sealed-http", `http://127.0.0.1:${http.port}/datasets/Iris.csv`);
}, 2 * STEP_MS);

test.skipIf(!registryAvailable())("Iris.csv in an OCI registry (pinned by digest): fetched, verified, trained on, sealed", async () => {
  const { manifestDigest } = await registry!.push("datasets/iris", "v1", [{ bytes: iris, title: "Iris.csv" }]);
  await compute("sealed-oci", `oci://${registry!.host}/datasets/iris@${manifestDigest}`);
}, 2 * STEP_MS);
