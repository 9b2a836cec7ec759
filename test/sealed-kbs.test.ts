// End to end through the compiled binaries (dist/cocos-kbs, dist/cocos-agent, dist/cocos-cli): the
// data provider encrypts Iris.csv with `cocos-cli encrypt`, registers its key (`cocos-cli kbs put`) in our KBS under a
// policy pinning the (sim) measurement and the manifest hash, and uploads only ciphertext over
// attested TLS; the agent attests to the KBS, gets the key, decrypts, runs iris-train.wasm, and the
// consumer downloads the result. Then the same with a KBS policy naming another measurement: the
// key is not released and the upload is refused, naming the measurement.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { unzipSync } from "fflate";
import { trustSimRoot } from "../attestation/policy.ts";
import { loadOrCreateSimRoot } from "../attestation/providers/sim.ts";
import { sha3_256, toHex } from "../protocol/hash.ts";
import { loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { manifestHash, manifestToJSON, parseManifest } from "../protocol/manifest.ts";

const ROOT = resolve(import.meta.dir, "..");
const BIN = (n: string) => join(ROOT, "dist", n);
const IRIS = join(ROOT, "examples", "data", "Iris.csv");
const TRAIN = join(ROOT, "examples", "dist", "iris-train.wasm");
const ADMIN = "e2e-admin-token-0123456789";
const MEASUREMENT = "5e".repeat(48);
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

let dir: string;
let kbs: ReturnType<typeof Bun.spawn> | null = null;
let kbsUrl = "";
const agents: ReturnType<typeof Bun.spawn>[] = [];

/** Reads JSON log lines from a child's stdout until `pred` matches one (bounded by a deadline). */
async function waitForLine(child: ReturnType<typeof Bun.spawn>, pred: (o: Record<string, unknown>) => boolean, what: string, seen: string[] = []): Promise<Record<string, unknown>> {
  const reader = (child.stdout as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let buf = "";
  const deadline = Date.now() + 30_000;
  try {
    while (Date.now() < deadline) {
      const r = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => null)]);
      if (!r || r.done) break;
      buf += dec.decode(r.value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        seen.push(line);
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          if (pred(o)) return o;
        } catch {}
      }
    }
  } finally {
    reader.releaseLock();
  }
  throw new Error(`${what}: not seen; output:\n${seen.slice(-20).join("\n")}`);
}

async function cli(party: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const p = Bun.spawn([BIN("cocos-cli"), ...args], { cwd: join(dir, party), env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill(), 60_000);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  clearTimeout(timer);
  return { code: await p.exited, out: out + err };
}

/** The data provider registers the key with `cocos-cli kbs put`. */
async function putKey(policy: object): Promise<void> {
  writeFileSync(join(dir, "data", "kbs-policy.json"), JSON.stringify(policy));
  const r = await cli("data", ["kbs", "put", "default/key/iris", "symmetric.key", "--policy", "kbs-policy.json", "--url", kbsUrl], { KBS_ADMIN_TOKEN: ADMIN });
  expect(r.code, r.out).toBe(0);
}

/** A compiled agent serving `manifestFile` with sim attestation (the measurement above, the sim root in simDir). */
async function startAgent(manifestFile: string, simDir: string): Promise<number> {
  const work = mkdtempSync(join(dir, "agent-"));
  const agent = Bun.spawn([BIN("cocos-agent"), "--manifest", manifestFile], {
    env: { ...process.env, AGENT_GRPC_PORT: "0", AGENT_GRPC_HOST: "127.0.0.1", AGENT_ATTESTATION: "sim", AGENT_SIM_STATE_DIR: simDir, AGENT_SIM_MEASUREMENT: MEASUREMENT, AGENT_WORK_DIR: work, AGENT_HOST_CHANNEL: "none" },
    stdout: "pipe",
    stderr: "inherit",
  });
  agents.push(agent);
  const ready = await waitForLine(agent, (o) => o.msg === "agent ready", "agent ready");
  return ready.grpc_port as number;
}

const have = ["cocos-cli", "cocos-agent", "cocos-kbs"].every((n) => existsSync(BIN(n))) && existsSync(TRAIN);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sealed-kbs-"));
  if (!have) return;
  kbs = Bun.spawn([BIN("cocos-kbs")], { env: { ...process.env, KBS_PORT: "0", KBS_DB: join(dir, "kbs.sqlite"), KBS_ADMIN_TOKEN: ADMIN }, stdout: "pipe", stderr: "inherit" });
  const up = await waitForLine(kbs, (o) => o.msg === "kbs listening", "kbs listening");
  kbsUrl = `http://127.0.0.1:${up.port}`;
});

afterAll(async () => {
  for (const p of [...agents, ...(kbs ? [kbs] : [])]) {
    p.kill();
    await p.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

test.skipIf(!have)(
  "Iris encrypted with cocos-cli, key released by our KBS after attestation, decrypted in the agent, trained; refused for another measurement",
  async () => {
    for (const p of ["algo", "data", "consumer"]) mkdirSync(join(dir, p));
    for (const p of ["algo", "data", "consumer"]) expect((await cli(p, ["keys", "-k", "ed25519"])).code).toBe(0);
    const keyOf = (p: string) => b64(publicKeyDer(loadPublicKey(readFileSync(join(dir, p, "public.pem"), "utf8"))));

    // The data provider seals Iris.csv (same name, so the manifest's filename matches).
    expect((await cli("data", ["keys", "--symmetric"])).code).toBe(0);
    const secret = new Uint8Array(readFileSync(join(dir, "data", "symmetric.key")));
    expect(secret.length).toBe(32);
    mkdirSync(join(dir, "data", "sealed"));
    const enc = await cli("data", ["encrypt", "symmetric.key", IRIS, "sealed/Iris.csv"]);
    expect(enc.code).toBe(0);
    const sealed = readFileSync(join(dir, "data", "sealed", "Iris.csv"));
    const plain = readFileSync(IRIS);
    expect(sealed.length).toBe(plain.length + 28);
    expect(sealed.includes(plain.subarray(0, 40))).toBe(false);

    const manifest = parseManifest({
      id: "sealed-iris",
      name: "Iris on sealed data",
      datasets: [{ hash: Array.from(sha3_256(plain)), user_key: keyOf("data"), filename: "Iris.csv", source: { kbs_resource_path: "default/key/iris", encrypted: true }, kbs: { url: kbsUrl, enabled: true } }],
      algorithm: { hash: Array.from(sha3_256(readFileSync(TRAIN))), user_key: keyOf("algo") },
      result_consumers: [{ user_key: keyOf("consumer") }],
      agent_config: { attested_tls: true },
    });
    const manifestFile = join(dir, "manifest.json");
    writeFileSync(manifestFile, manifestToJSON(manifest));
    const simDir = join(dir, "sim");
    const root = loadOrCreateSimRoot(simDir); // the agent loads the same root from simDir
    const policy = trustSimRoot({ policy: { measurement: Buffer.from(MEASUREMENT, "hex").toString("base64"), host_data: b64(manifestHash(manifest)) } }, root.arkSha256);
    const policyFile = join(dir, "policy.json");
    writeFileSync(policyFile, JSON.stringify(policy));
    await putKey(policy);

    const port = await startAgent(manifestFile, simDir);
    const env = { AGENT_GRPC_URL: `127.0.0.1:${port}`, AGENT_GRPC_ATTESTED_TLS: "true", AGENT_GRPC_ATTESTATION_POLICY: policyFile, COCOS_COMPUTATION_ID: manifest.id };
    const algo = await cli("algo", ["algo", TRAIN, "private.pem", "-a", "wasm"], env);
    expect(algo.code, algo.out).toBe(0);
    const data = await cli("data", ["data", "sealed/Iris.csv", "private.pem"], env);
    expect(data.code, data.out).toBe(0);
    let result = { code: 1, out: "" };
    for (let i = 0; i < 60 && result.code !== 0; i++) {
      result = await cli("consumer", ["result", "private.pem", "--force"], env);
      if (result.code !== 0) await Bun.sleep(500);
    }
    expect(result.code, result.out).toBe(0);
    const files = unzipSync(new Uint8Array(readFileSync(join(dir, "consumer", "results.zip"))));
    expect(Object.keys(files).length).toBeGreaterThan(0);
    expect(Object.values(files).some((b) => b.length > 0)).toBe(true);

    // The KBS now pins another measurement: the same ciphertext to a fresh agent is refused, the key never leaves the KBS.
    await putKey(trustSimRoot({ policy: { measurement: b64(new Uint8Array(48).fill(7)), host_data: b64(manifestHash(manifest)) } }, root.arkSha256));
    const port2 = await startAgent(manifestFile, simDir);
    const env2 = { ...env, AGENT_GRPC_URL: `127.0.0.1:${port2}` };
    expect((await cli("algo", ["algo", TRAIN, "private.pem", "-a", "wasm"], env2)).code).toBe(0);
    const refused = await cli("data", ["data", "sealed/Iris.csv", "private.pem"], env2);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain("key release for dataset Iris.csv failed");
    expect(refused.out).toContain("measurement");
    expect(refused.out).toContain(toHex(new Uint8Array(48).fill(7)).slice(0, 16));
  },
  120_000,
);
