// Soak benchmark: N computations, one after another, through one long-running manager (process
// backend, the real compiled agent, attested TLS, the `addition` Wasm sample and a small dataset),
// driven the way the control plane and three parties drive them: run request → RunResponse → policy
// → cocos-cli algo / data / result → StopComputation. After each computation it samples the
// manager's RSS and fds, the processes and files left, and the events that should not be there.
// `bun run bench -- soak` (N: `--n=N` or SOAK_N, default 100; binaries from dist/, `bun run build`).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { unzipSync } from "fflate";
import { ephemeralPort } from "../manager/ports.ts";
import { runReqChunkMessages, startComputationsServer, type ClientStreamMessage } from "../cli/computations-server.ts";
import { hashFile } from "../protocol/hash.ts";
import { loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { runReqFromManifest, type Manifest } from "../protocol/manifest.ts";

const root = resolve(import.meta.dir, "..");
const TARGET_RSS_GROWTH_PCT = 10;
const ADDITION_RESULT = "[5.141593, 4.0, 5.0, 8.141593]";
/** Statuses that a clean computation (run, upload, result, stop) never produces. */
const SPURIOUS = /^(Disconnected|Stopped|Failed|Warning)$/;

function count(): number {
  const arg = process.argv.find((a) => a.startsWith("--n="))?.slice(4) ?? process.env.SOAK_N ?? "100";
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 6) throw new Error(`soak: expected --n=N (or SOAK_N) with N ≥ 6 (RSS is compared from the 5th on), got ${JSON.stringify(arg)}`);
  return n;
}

/** Runs a program to its end; throws with its output on a non-zero exit or after `timeoutMs`. */
function runProgram(argv: string[], cwd: string, env: Record<string, string>, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(t);
      if (code === 0) resolveRun(out);
      else reject(new Error(`${argv.join(" ")} exited with ${code}:\n${out.slice(-3000)}`));
    });
  });
}

function procStatusKb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

/** Processes whose command line mentions `needle` (agents left behind by the manager). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").includes(needle) || readFileSync(`/proc/${d}/environ`, "utf8").includes(needle)) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Files under the state dir other than the manager's own (its HTTP token and sim root). */
function leftovers(stateDir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      const rel = relative(stateDir, p);
      if (rel === "http-token" || rel === "sim" || rel === "vms") {
        if (rel === "vms") walk(p);
        continue;
      }
      out.push(rel);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  if (existsSync(stateDir)) walk(stateDir);
  return out;
}

class Inbox {
  readonly all: ClientStreamMessage[] = [];
  private waiters: { f: (m: ClientStreamMessage) => boolean; resolve: (m: ClientStreamMessage) => void }[] = [];
  push(m: ClientStreamMessage): void {
    this.all.push(m);
    for (const w of [...this.waiters]) if (w.f(m)) this.waiters.splice(this.waiters.indexOf(w), 1), w.resolve(m);
  }
  wait(what: string, f: (m: ClientStreamMessage) => boolean, timeoutMs = 120_000): Promise<ClientStreamMessage> {
    const seen = this.all.find(f);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolveWait, reject) => {
      const w = { f, resolve: (m: ClientStreamMessage) => (clearTimeout(t), resolveWait(m)) };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`soak: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
}

export async function run(): Promise<object> {
  const n = count();
  const dist = (b: string) => join(process.env.COCOS_DIST_DIR || join(root, "dist"), b);
  for (const b of ["cocos-cli", "cocos-manager", "cocos-agent"]) if (!existsSync(dist(b))) throw new Error(`soak: ${dist(b)} is missing: run \`bun run build\``);
  const wasm = join(root, "examples", "dist", "addition.wasm");
  if (!existsSync(wasm)) throw new Error(`soak: ${wasm} is missing: run \`bun run examples\``);
  const work = mkdtempSync(join(tmpdir(), "cocos-soak-"));
  const stateDir = join(work, "state");
  const dataset = join(work, "small.csv");
  writeFileSync(dataset, "a,b\n1,2\n3,4\n");
  const cli = (party: string, args: string[], env: Record<string, string> = {}) => runProgram([dist("cocos-cli"), ...args], join(work, party), env);
  for (const [p, kind] of [["algo", "ed25519"], ["data", "ecdsa"], ["consumer", "ed25519"]] as const) {
    mkdirSync(join(work, p));
    await cli(p, ["keys", "-k", kind]);
  }
  const keyOf = (p: string) => publicKeyDer(loadPublicKey(readFileSync(join(work, p, "public.pem"), "utf8")));
  const [algoHash, dataHash] = await Promise.all([hashFile(wasm), hashFile(dataset)]);
  const manifest = (id: string): Manifest => ({
    id,
    name: `soak ${id}`,
    description: "soak",
    datasets: [{ hash: dataHash, user_key: keyOf("data"), filename: "small.csv" }],
    algorithm: { hash: algoHash, user_key: keyOf("algo") },
    result_consumers: [{ user_key: keyOf("consumer") }],
    agent_config: { port: "7002", log_level: "info", attested_tls: true },
  });

  const ids = Array.from({ length: n }, () => crypto.randomUUID());
  const inbox = new Inbox();
  const server = await startComputationsServer({ host: "127.0.0.1", port: 0, runReq: runReqFromManifest(manifest(ids[0]!)) as Record<string, unknown> });
  server.onMessage((m) => inbox.push(m));
  const token = crypto.randomUUID();
  const httpPort = await ephemeralPort("127.0.0.1");
  const manager = spawn(dist("cocos-manager"), [], {
    cwd: work,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      MANAGER_GRPC_URL: `127.0.0.1:${server.port}`,
      MANAGER_BACKEND: "process",
      MANAGER_AGENT_BIN: dist("cocos-agent"),
      MANAGER_STATE_DIR: stateDir,
      MANAGER_HTTP_PORT: String(httpPort),
      MANAGER_HTTP_TOKEN: token,
      MANAGER_STOP_GRACE: "5s",
      MANAGER_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let managerOut = "";
  manager.stdout.on("data", (d) => (managerOut = (managerOut + d).slice(-20_000)));
  manager.stderr.on("data", (d) => (managerOut = (managerOut + d).slice(-20_000)));
  const mpid = manager.pid!;

  const samples: { i: number; ms: number; rssKb: number; fds: number; agents: number; leftovers: number }[] = [];
  const spurious: string[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      const start = performance.now();
      if (i > 0) for (const c of runReqChunkMessages(runReqFromManifest(manifest(id)) as Record<string, unknown>)) server.broadcast(c);
      const res = (await inbox.wait(`RunResponse for ${id}`, (m) => m.run_res?.computation_id === id)).run_res!;
      if (!res.agent_port) throw new Error(`soak: computation ${id} did not start: ${JSON.stringify(res)}`);
      await inbox.wait(`"agent ready" from ${id}`, (m) => m.agent_log?.computation_id === id && m.agent_log.message.includes('"agent ready"'));
      server.broadcast({ attestationPolicyReq: { id } });
      const policy = (await inbox.wait(`attestation policy of ${id}`, (m) => m.attestationPolicy?.id === id)).attestationPolicy!;
      const policyFile = join(work, "policy.json");
      writeFileSync(policyFile, policy.info);
      const env = { AGENT_GRPC_URL: `127.0.0.1:${res.agent_port}`, AGENT_GRPC_ATTESTED_TLS: "true", AGENT_GRPC_ATTESTATION_POLICY: policyFile };
      await cli("algo", ["algo", wasm, "private.pem", "-a", "wasm"], env);
      await cli("data", ["data", dataset, "private.pem"], env);
      await inbox.wait(`results of ${id}`, (m) => m.agent_event?.computation_id === id && m.agent_event.event_type === "ConsumingResults" && m.agent_event.status === "Ready");
      rmSync(join(work, "consumer", "result.zip"), { force: true });
      await cli("consumer", ["result", "private.pem", "result.zip"], env);
      const text = Buffer.from(unzipSync(readFileSync(join(work, "consumer", "result.zip")))["results.txt"] ?? []).toString();
      if (text !== ADDITION_RESULT) throw new Error(`soak: computation ${id} returned ${JSON.stringify(text)}, expected ${ADDITION_RESULT}`);
      server.broadcast({ stopComputation: { computation_id: id } });
      const stopped = (await inbox.wait(`StopComputationResponse of ${id}`, (m) => m.stopComputationRes?.computation_id === id)).stopComputationRes!;
      if (stopped.message) throw new Error(`soak: stopping ${id}: ${stopped.message}`);
      // Events of this computation that arrive after the stop are counted at the end.
      samples.push({
        i: i + 1,
        ms: Math.round(performance.now() - start),
        rssKb: procStatusKb(mpid, "VmRSS"),
        fds: readdirSync(`/proc/${mpid}/fd`).length,
        agents: processesMentioning(join(stateDir, "vms")).length,
        leftovers: leftovers(stateDir).length,
      });
      if ((i + 1) % 10 === 0 || i === 0) console.log(`soak: ${i + 1}/${n} done, manager RSS ${samples.at(-1)!.rssKb} kB, ${samples.at(-1)!.fds} fds`);
    }
    await Bun.sleep(1500); // a liveness tick or two: late spurious events would show up now
  } catch (e) {
    throw new Error(`${(e as Error).message}\nmanager output:\n${managerOut.slice(-4000)}`);
  } finally {
    manager.kill("SIGTERM");
    await new Promise((r) => (manager.exitCode !== null ? r(null) : manager.once("exit", r)));
    await server.close();
  }
  const known = new Set<string>(ids);
  for (const m of inbox.all) {
    const rec = m.agent_event ?? m.agent_log;
    if (rec && !known.has(rec.computation_id)) spurious.push(`record for unknown computation ${JSON.stringify(rec.computation_id)}`);
    if (m.agent_event && SPURIOUS.test(m.agent_event.status)) spurious.push(`${m.agent_event.event_type}/${m.agent_event.status} computation=${m.agent_event.computation_id}`);
  }
  const left = leftovers(stateDir);
  const agentsLeft = processesMentioning(join(stateDir, "vms"));
  rmSync(work, { recursive: true, force: true });

  const from = samples[4]!;
  const last = samples.at(-1)!;
  const growthPct = Math.round(((last.rssKb - from.rssKb) / from.rssKb) * 1000) / 10;
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const result = {
    computations: n,
    flow: "process backend, compiled agent, attested TLS, addition.wasm + one 12-byte dataset, cocos-cli algo/data/result, StopComputation",
    total_s: Math.round((performance.now() - t0) / 100) / 10,
    per_computation_ms: { median: ms[ms.length >> 1], p90: ms[Math.floor(ms.length * 0.9)], max: ms.at(-1) },
    manager_rss_kb: { at_5th: from.rssKb, last: last.rssKb, max: Math.max(...samples.map((s) => s.rssKb)), growth_pct_5th_to_last: growthPct },
    manager_fds: { at_5th: from.fds, last: last.fds },
    agent_processes_left: agentsLeft.length,
    state_dir_leftovers: left,
    spurious_events: spurious,
    targets: {
      rss_growth_le_10pct: growthPct <= TARGET_RSS_GROWTH_PCT,
      nothing_left_on_disk: left.length === 0,
      no_processes_left: agentsLeft.length === 0,
      no_spurious_events: spurious.length === 0,
    },
    samples,
  };
  console.log(JSON.stringify({ ...result, samples: undefined }, null, 2));
  return result;
}
