// The Iris workflow through the real programs: a computations server, a manager (process or qemu
// backend) and cocos-cli as three parties with three key pairs. Training on Iris.csv, then inference
// with the trained model uploaded as a dataset and the blog's JSON args. Used by `bun run demo` and by
// test/e2e-process.test.ts. Every program runs as its own process (compiled from dist/ or from source).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { unzipSync } from "fflate";
import { hashFile } from "../protocol/hash.ts";
import { loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { manifestToJSON, type Manifest } from "../protocol/manifest.ts";
import { QemuBackend } from "../manager/backends/qemu.ts";
import { loadQemuConfig } from "../manager/backends/qemu-config.ts";

export const ROOT = resolve(import.meta.dir, "..");
export const BLOG_ARGS = '{"sepal_length": 7.0, "sepal_width": 3.2, "petal_length": 4.7, "petal_width": 1.4}';

export type BinMode = "dist" | "source";
export type Backend = "process" | "qemu";

export interface Programs {
  mode: BinMode;
  /** Where the compiled binaries came from (dist mode). */
  dir?: string;
  cli: string[];
  manager: string[];
  agent: string[];
}

/** Compiled binaries from $COCOS_DIST_DIR (default dist/), or the sources under bun. */
export function programs(mode: BinMode | "auto" = "auto"): Programs {
  const distDir = process.env.COCOS_DIST_DIR || join(ROOT, "dist");
  const dist = (n: string) => join(distDir, n);
  const haveDist = ["cocos-cli", "cocos-manager", "cocos-agent"].every((n) => existsSync(dist(n)));
  const m: BinMode = mode === "auto" ? (haveDist ? "dist" : "source") : mode;
  if (m === "dist") {
    if (!haveDist) throw new Error(`dist binaries missing in ${distDir}: run \`bun run build\``);
    return { mode: m, dir: distDir, cli: [dist("cocos-cli")], manager: [dist("cocos-manager")], agent: [dist("cocos-agent")] };
  }
  const bun = process.execPath;
  return {
    mode: m,
    cli: [bun, join(ROOT, "cli", "main.ts")],
    manager: [bun, join(ROOT, "manager", "main.ts")],
    agent: [bun, join(ROOT, "agent", "main.ts")],
  };
}

/** The manager runs in a scratch directory: point its QEMU backend at the repository's built image
 *  (the initramfs of MANAGER_QEMU_IMAGE_FLAVOUR next to the kernel, unless one is given). */
export function qemuEnv(env: Record<string, string | undefined> = process.env): Record<string, string> {
  const out = join(ROOT, "images", "out");
  const rootfs = env.MANAGER_QEMU_DISK_IMG_ROOTFS_FILE;
  return {
    MANAGER_QEMU_DISK_IMG_KERNEL_FILE: env.MANAGER_QEMU_DISK_IMG_KERNEL_FILE || join(out, "vmlinux"),
    ...(rootfs ? { MANAGER_QEMU_DISK_IMG_ROOTFS_FILE: rootfs } : {}),
  };
}

/** qemu when the backend's preflight passes (QEMU installed, guest kernel and initramfs built). */
export function defaultBackend(): { backend: Backend; reason: string } {
  try {
    const { qemu } = new QemuBackend({ vmsDir: "", config: loadQemuConfig({ ...process.env, ...qemuEnv() }) }).preflight();
    return { backend: "qemu", reason: `a guest image is in images/out and ${qemu} exists` };
  } catch (e) {
    return { backend: "process", reason: (e as Error).message };
  }
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

/** A long-running program whose stdout lines we watch. */
export class Program {
  readonly lines: string[] = [];
  private waiters: { re: RegExp; from: number; resolve: (m: RegExpMatchArray) => void }[] = [];
  readonly exited: Promise<number | null>;
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    onLine: (l: string) => void,
  ) {
    let buf = "";
    const feed = (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.lines.push(line);
        onLine(line);
        for (const w of [...this.waiters]) {
          const m = line.match(w.re);
          if (m) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      }
    };
    child.stdout?.on("data", feed);
    child.stderr?.on("data", feed);
    this.exited = new Promise((r) => child.once("exit", (code) => r(code)));
  }

  /** Resolves with the first line (from index `from` on) matching `re`; timeoutMs 0 = no deadline. */
  waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<RegExpMatchArray> {
    for (let i = from; i < this.lines.length; i++) {
      const m = this.lines[i]!.match(re);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const w = { re, from, resolve: (m: RegExpMatchArray) => (clearTimeout(t), resolve(m)) };
      const t = timeoutMs
        ? setTimeout(() => {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms; last lines:\n${this.lines.slice(-15).join("\n")}`));
          }, timeoutMs)
        : undefined;
      this.waiters.push(w);
      this.exited.then((code) => {
        if (!this.waiters.includes(w)) return;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(t);
        reject(new Error(`${this.name} exited (code ${code}) before printing ${re}; last lines:\n${this.lines.slice(-15).join("\n")}`));
      });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

export interface WorkflowOptions {
  workDir: string;
  backend: Backend;
  bins?: BinMode | "auto";
  /** Narration (steps) and program output (events, logs). */
  say?: (line: string) => void;
  show?: (program: string, line: string) => void;
  timeoutMs?: number;
  /** Manifests ask for attested TLS; parties verify the agent's evidence before any upload (default true). */
  attested?: boolean;
  /** Fault injection: right after this computation's uploads, SIGKILL the manager and start a new one
   *  on the same state dir; it must re-adopt the running VM and relay the rest (issue 5). */
  restartManagerAfterUpload?: string;
  /** Called once per computation after the agent is up and before the uploads (tests: bad inputs). */
  probe?: (computationId: string, env: Record<string, string>, run: CliRunner) => Promise<void>;
  /** Adds a third computation: iris-nn.wasm serves the trained model.onnx through wasi-nn. */
  nn?: boolean;
  /** Instead of the Iris computations: these, one VM each, in order (e.g. python and docker algorithms). */
  computations?: WorkflowComputation[];
  /** Further manager settings (e.g. MANAGER_QEMU_IMAGE_FLAVOUR). */
  managerEnv?: Record<string, string>;
}

export interface WorkflowComputation {
  id: string;
  /** The algorithm file and its type (cocos-cli algo -a). */
  algo: string;
  algoType: "bin" | "python" | "wasm" | "docker";
  args?: string[];
  datasets: { path: string; name: string }[];
}

/** Runs cocos-cli as one party (its directory holds its key pair); never throws for a non-zero exit. */
export type CliRunner = (party: string, args: string[], env?: Record<string, string>) => Promise<{ code: number | null; lines: string[] }>;

export interface WorkflowResult {
  prediction: string;
  trainMetrics: string;
  serverLines: string[];
  programs: Programs;
  /** The wasi-nn computation's answer (with `nn`). */
  nnPrediction?: string;
  /** With `computations`: each one's results.zip entries, by computation id. */
  results?: Record<string, Record<string, Uint8Array>>;
}

export async function runIrisWorkflow(o: WorkflowOptions): Promise<WorkflowResult> {
  const say = o.say ?? (() => {});
  const show = o.show ?? (() => {});
  // Per step (a boot, an upload, a run); TCG boots and runs are slower.
  const timeout = o.timeoutMs ?? (o.backend === "qemu" ? 180_000 : 120_000);
  const attested = o.attested ?? true;
  const progs = programs(o.bins);
  const wasmTrain = join(ROOT, "examples", "dist", "iris-train.wasm");
  const wasmInfer = join(ROOT, "examples", "dist", "iris-inference.wasm");
  const iris = join(ROOT, "examples", "data", "Iris.csv");
  for (const f of [wasmTrain, wasmInfer]) if (!existsSync(f)) throw new Error(`${f} is missing: run \`bun run examples\``);

  const running: Program[] = [];
  const start = (name: string, argv: string[], env: Record<string, string>, cwd: string) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const p = new Program(name, child, (l) => show(name, l));
    running.push(p);
    return p;
  };
  // Every CLI step has its own deadline: a hung upload or download fails the workflow with its output.
  const runCli: CliRunner = async (party, args, env = {}) => {
    const p = start(`cli:${party}`, [...progs.cli, ...args], env, join(o.workDir, party));
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      void p.stop();
    }, timeout);
    const code = await p.exited;
    clearTimeout(t);
    running.splice(running.indexOf(p), 1);
    if (timedOut) throw new Error(`cocos-cli ${args.join(" ")} (as ${party}) did not finish within ${timeout} ms; its output:\n${p.lines.slice(-15).join("\n")}`);
    return { code, lines: p.lines };
  };
  /** One cocos-cli invocation; throws with its output when it fails. */
  const cli = async (party: string, args: string[], env: Record<string, string> = {}) => {
    const r = await runCli(party, args, env);
    if (r.code !== 0) throw new Error(`cocos-cli ${args.join(" ")} (as ${party}) failed with exit code ${r.code}:\n${r.lines.join("\n")}`);
    return r.lines;
  };

  const parties = ["algo-provider", "data-provider", "consumer"] as const;
  for (const p of parties) mkdirSync(join(o.workDir, p), { recursive: true });
  const stateDir = join(o.workDir, "manager-state");
  const serverPort = await freePort();
  const httpPort = await freePort();
  // The manager's HTTP API wants a bearer token; give it one we know.
  const httpToken = crypto.randomUUID();
  const auth = { authorization: `Bearer ${httpToken}` };
  let manager: Program | null = null;
  let server: Program | null = null;
  try {
    say(`1. Three parties each make a key pair (cocos-cli keys): algorithm provider (ed25519), data provider (ecdsa), consumer (ed25519)`);
    await cli("algo-provider", ["keys", "-k", "ed25519"]);
    await cli("data-provider", ["keys", "-k", "ecdsa"]);
    await cli("consumer", ["keys", "-k", "ed25519"]);
    const keyOf = (p: string) => publicKeyDer(loadPublicKey(readFileSync(join(o.workDir, p, "public.pem"), "utf8")));

    const manifest = async (id: string, algo: string, datasets: { path: string; name: string }[], algoType?: string): Promise<string> => {
      const m: Manifest = {
        id,
        name: `iris ${id}`,
        description: "Iris workflow of the Cocos blog, on Bun",
        datasets: await Promise.all(datasets.map(async (d) => ({ hash: await hashFile(d.path), user_key: keyOf("data-provider"), filename: d.name }))),
        algorithm: { hash: await hashFile(algo), user_key: keyOf("algo-provider"), ...(algoType ? { algo_type: algoType } : {}) },
        result_consumers: [{ user_key: keyOf("consumer") }],
        agent_config: { port: "7002", log_level: "info", attested_tls: attested },
        signatures: "v2-only", // replayable v1 signatures refused
      };
      const f = join(o.workDir, `${id}.manifest.json`);
      writeFileSync(f, manifestToJSON(m));
      return f;
    };

    const policyFile = (id: string) => join(o.workDir, `${id}.policy.json`);
    const serve = (id: string, manifestFile: string) =>
      start(
        "computations",
        [...progs.cli, "computations", "serve", "--manifest", manifestFile, "--host", "127.0.0.1", "--port", String(serverPort), "--policy-out", policyFile(id)],
        {},
        o.workDir,
      );

    const managerEnv: Record<string, string> = {
      MANAGER_GRPC_URL: `127.0.0.1:${serverPort}`,
      MANAGER_BACKEND: o.backend,
      MANAGER_AGENT_BIN: progs.agent.join(" "),
      MANAGER_STATE_DIR: stateDir,
      MANAGER_HTTP_HOST: "127.0.0.1",
      MANAGER_HTTP_PORT: String(httpPort),
      MANAGER_HTTP_TOKEN: httpToken,
      MANAGER_GRPC_RECONNECT_INITIAL: "200ms",
      MANAGER_GRPC_RECONNECT_MAX: "1s",
      MANAGER_STOP_GRACE: "5s",
      ...(o.backend === "qemu" ? qemuEnv({ ...process.env, ...o.managerEnv }) : {}),
      ...o.managerEnv,
    };
    const startManager = () => start("manager", [...progs.manager], managerEnv, o.workDir);

    /** Runs one computation end to end; returns the consumer's results.zip entries. */
    const compute = async (id: string, upload: (env: Record<string, string>) => Promise<void>): Promise<Record<string, Uint8Array>> => {
      const srv = server!;
      // A manager that dies (bad config, backend unavailable) ends the wait at once, with its output.
      // …and so does a VM (or agent) that stops or fails before the computation is done.
      const vmGone = srv.waitFor(new RegExp(`event +\\S+/(Stopped|Failed) +computation=${id}\\b`), 0).then((m): never => {
        throw new Error(`computation ${id} ended early: ${m.input}\n${srv.lines.slice(-20).join("\n")}`);
      });
      vmGone.catch(() => {});
      const managerDied = () => {
        const mgr = manager!;
        const p = mgr.exited.then((code): never => {
          throw new Error(`the manager exited (code ${code}):\n${mgr.lines.slice(-15).join("\n")}`);
        });
        p.catch(() => {});
        return Promise.race([p, vmGone]);
      };
      const port = (await Promise.race([srv.waitFor(new RegExp(`run +computation=${id} agent_port=(\\d*)`), timeout), managerDied()]))[1]!;
      if (!port) throw new Error(`the manager could not start computation ${id}:\n${srv.lines.filter((l) => / event .*Failed/.test(l)).join("\n")}`);
      say(`   the manager started the agent (${o.backend} backend); agent port ${port}`);
      // The agent takes the manifest before its gRPC server listens; behind QEMU's hostfwd a connection
      // made in between is accepted and then dropped. The control plane sees the agent's own "agent ready".
      await Promise.race([srv.waitFor(new RegExp(`"msg":"agent ready".* computation=${id}\\b`), timeout), managerDied()]);
      // The parties' v2 signatures bind the computation id (and the agent's attested key).
      const env: Record<string, string> = { AGENT_GRPC_URL: `127.0.0.1:${port}`, COCOS_COMPUTATION_ID: id };
      if (attested) {
        // The control plane fetched the policy from the manager: measurement, host_data = manifest hash, root.
        await Promise.race([srv.waitFor(new RegExp(`attestation policy for computation ${id} written`), timeout), managerDied()]);
        Object.assign(env, { AGENT_GRPC_ATTESTED_TLS: "true", AGENT_GRPC_ATTESTATION_POLICY: policyFile(id) });
        say(`   attestation policy from the manager: host_data = manifest hash, measurement, sim root → ${id}.policy.json`);
      }
      if (o.probe) await o.probe(id, env, runCli);
      await upload(env);
      if (o.restartManagerAfterUpload === id) {
        say(`   fault: the manager is killed (SIGKILL) while ${id} runs, and started again on the same state dir`);
        const old = manager!;
        old.child.kill("SIGKILL");
        await old.exited;
        running.splice(running.indexOf(old), 1);
        manager = startManager();
        const m = await Promise.race([manager.waitFor(/"re-adopted VM"/, timeout), managerDied()]);
        say(`   the new manager re-adopted the VM: ${m.input}`);
      }
      const done = await Promise.race([srv.waitFor(new RegExp(`event +(ConsumingResults/Ready|Running/Failed|Failed/Failed) +computation=${id}`), timeout), managerDied()]);
      if (!done[1]!.startsWith("ConsumingResults")) throw new Error(`computation ${id} failed:\n${srv.lines.slice(-20).join("\n")}`);
      say(`   consumer downloads the result (cocos-cli result)`);
      await cli("consumer", ["result", "private.pem", `${id}.zip`], env);
      // Done with this VM: free its vCPUs before the next computation boots (2-core CI machines).
      const stopped = await fetch(`http://127.0.0.1:${httpPort}/vms/${id}`, { method: "DELETE", headers: auth, signal: AbortSignal.timeout(timeout) });
      if (!stopped.ok) throw new Error(`manager could not stop the VM of ${id}: HTTP ${stopped.status} ${await stopped.text()}`);
      return unzipSync(readFileSync(join(o.workDir, "consumer", `${id}.zip`)));
    };

    if (o.computations) return await listed(o.computations);

    // ---------------------------------------------------------------- training
    say(`2. Control plane: computations server with the training manifest (algorithm hash, Iris.csv hash, three keys)`);
    server = serve("iris-train", await manifest("iris-train", wasmTrain, [{ path: iris, name: "Iris.csv" }]));
    await server.waitFor(/listening at/, timeout);
    say(`3. Manager (${o.backend} backend) dials the computations server`);
    manager = startManager();
    const train = await compute("iris-train", async (env) => {
      say(`4. Algorithm provider uploads iris-train.wasm (cocos-cli algo -a wasm)${attested ? ", over attested TLS" : ""}`);
      const lines = await cli("algo-provider", ["algo", wasmTrain, "private.pem", "-a", "wasm"], env);
      for (const l of lines) if (/^Attestation verified/.test(l)) say(`   ${l}`);
      say(`5. Data provider uploads Iris.csv (cocos-cli data); the agent runs the training by itself`);
      await cli("data-provider", ["data", iris, "private.pem"], env);
    });
    const model = train["model.json"];
    if (!model) throw new Error(`training result has no model.json (entries: ${Object.keys(train).join(", ")})`);
    const trainMetrics = train["metrics.json"] ? Buffer.from(train["metrics.json"]).toString() : "";
    say(`   trained model: model.json, ${model.length} bytes${summarizeMetrics(trainMetrics)}`);
    const modelPath = join(o.workDir, "data-provider", "model.json");
    writeFileSync(modelPath, model);

    // ---------------------------------------------------------------- inference
    say(`6. Control plane switches to the inference computation (model.json as its dataset); the manager reconnects`);
    await server.stop();
    server = serve("iris-infer", await manifest("iris-infer", wasmInfer, [{ path: modelPath, name: "model.json" }]));
    const infer = await compute("iris-infer", async (env) => {
      say(`7. Algorithm provider uploads iris-inference.wasm with the blog's args ${BLOG_ARGS}`);
      await cli("algo-provider", ["algo", wasmInfer, "private.pem", "-a", "wasm", "--args", BLOG_ARGS], env);
      say(`8. Data provider uploads the trained model as a dataset`);
      await cli("data-provider", ["data", modelPath, "private.pem"], env);
    });
    const out = infer["results.txt"];
    if (!out) throw new Error(`inference result has no results.txt (entries: ${Object.keys(infer).join(", ")})`);
    const prediction = Buffer.from(out).toString().trim();
    say(`9. Prediction: ${prediction}`);
    const serverLines = [...server.lines];
    const nnPrediction = o.nn ? await nnStep(train["model.onnx"]) : undefined;
    return { prediction, trainMetrics, serverLines, programs: progs, nnPrediction };

    // The same question through wasi-nn: a 20 KB module, the model's math in the agent's ONNX Runtime.
    async function nnStep(onnx: Uint8Array | undefined): Promise<string> {
      if (!onnx) throw new Error(`training result has no model.onnx (entries: ${Object.keys(train).join(", ")})`);
      const wasmNn = join(ROOT, "examples", "dist", "iris-nn.wasm");
      const onnxPath = join(o.workDir, "data-provider", "model.onnx");
      writeFileSync(onnxPath, onnx);
      say(`10. Inference through wasi-nn: iris-nn.wasm loads model.onnx (${onnx.length} bytes) by name from /datasets`);
      await server!.stop();
      server = serve("iris-nn", await manifest("iris-nn", wasmNn, [{ path: onnxPath, name: "model.onnx" }]));
      const nn = await compute("iris-nn", async (env) => {
        await cli("algo-provider", ["algo", wasmNn, "private.pem", "-a", "wasm", "--args", BLOG_ARGS], env);
        await cli("data-provider", ["data", onnxPath, "private.pem"], env);
      });
      const answer = nn["results.txt"];
      if (!answer) throw new Error(`wasi-nn result has no results.txt (entries: ${Object.keys(nn).join(", ")})`);
      say(`11. Prediction through wasi-nn: ${Buffer.from(answer).toString().trim()}`);
      return Buffer.from(answer).toString().trim();
    }

    /** The given computations instead of Iris: each with its own manifest, VM and uploads. */
    async function listed(computations: WorkflowComputation[]): Promise<WorkflowResult> {
      const results: Record<string, Record<string, Uint8Array>> = {};
      for (const c of computations) {
        await server?.stop();
        // The manifest names the type (Cocos v0.9+): the manager boots the image flavour it needs.
        server = serve(c.id, await manifest(c.id, c.algo, c.datasets, c.algoType));
        await server.waitFor(/listening at/, timeout);
        manager ??= startManager();
        say(`${c.id}: ${c.algoType} algorithm ${c.algo}`);
        results[c.id] = await compute(c.id, async (env) => {
          await cli("algo-provider", ["algo", c.algo, "private.pem", "-a", c.algoType, ...(c.args ?? []).flatMap((a) => ["--args", a])], env);
          for (const d of c.datasets) await cli("data-provider", ["data", d.path, "private.pem"], env);
        });
      }
      return { prediction: "", trainMetrics: "", serverLines: [...server!.lines], programs: progs, results };
    }
  } finally {
    // Stop every VM through the manager's API, then the programs; kill leftovers from the state dir.
    try {
      const vms = (await (await fetch(`http://127.0.0.1:${httpPort}/vms`, { headers: auth })).json()) as { id: string }[];
      for (const v of vms) await fetch(`http://127.0.0.1:${httpPort}/vms/${v.id}`, { method: "DELETE", headers: auth });
    } catch {
      // manager not up
    }
    for (const p of [...running].reverse()) await p.stop();
    killLeftovers(stateDir);
  }
}

/** "; 48 epochs, validation 29/30" from the training's metrics.json. */
function summarizeMetrics(text: string): string {
  try {
    const m = JSON.parse(text) as { epochs?: number; valid?: { rows: number; correct: number }; train?: { rows: number; correct: number } };
    const part = (n: string, x?: { rows: number; correct: number }) => (x ? `, ${n} ${x.correct}/${x.rows}` : "");
    return `; ${m.epochs ?? "?"} epochs${part("train", m.train)}${part("validation", m.valid)}`;
  } catch {
    return "";
  }
}

export function killLeftovers(stateDir: string): void {
  if (!existsSync(stateDir)) return;
  for (const f of readdirSync(stateDir)) {
    if (!f.endsWith(".json")) continue;
    try {
      const { pid } = JSON.parse(readFileSync(join(stateDir, f), "utf8")) as { pid: number };
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
}
