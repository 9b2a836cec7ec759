// The README's "Using it piece by piece", command by command through the compiled binaries: three
// parties with their own keys, the positional `computations serve` with every party's key, the manager
// (process backend) with its HTTP token, attested TLS on with the policy from --policy-out.
// Each step is the shell line a user types (only the ports are free ones instead of 7001/7003).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { unzipSync } from "fflate";
import { ephemeralPort as freePort } from "../manager/ports.ts";
import { killLeftovers } from "../scripts/iris-workflow.ts";

const ROOT = resolve(import.meta.dir, "..");
const DIST = join(ROOT, "dist");
const ready = ["cocos-cli", "cocos-manager", "cocos-agent"].every((b) => existsSync(join(DIST, b))) && existsSync(join(ROOT, "examples", "dist", "iris-train.wasm"));

/** A background program of the walkthrough (the control plane, the manager): its output lines, awaitable. */
class Background {
  lines: string[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly child: ChildProcess) {
    let buf = "";
    const feed = (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split("\n");
      buf = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.waiters.splice(0)) w();
    };
    child.stdout!.on("data", feed);
    child.stderr!.on("data", feed);
    child.once("exit", () => this.waiters.splice(0).forEach((w) => w()));
  }
  async waitFor(re: RegExp, what: string, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      for (const l of this.lines) {
        const m = l.match(re);
        if (m) return m;
      }
      if (this.child.exitCode !== null || Date.now() > until) throw new Error(`no ${what} (${re}); output:\n${this.lines.slice(-20).join("\n")}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 250);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }
  async stop() {
    if (this.child.exitCode !== null) return;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await new Promise((r) => this.child.once("exit", r));
    clearTimeout(t);
  }
}

describe.skipIf(!ready)("README walkthrough, verbatim, through dist/", () => {
  const work = mkdtempSync(join(tmpdir(), "walkthrough-"));
  const env: Record<string, string> = { ...(process.env as Record<string, string>), PATH: `${DIST}:${process.env.PATH}`, MANAGER_BACKEND: "process" };
  const background: Background[] = [];
  /** One line typed at a shell in `dir` (relative to the work dir); throws with its output on failure. */
  const sh = (line: string, dir = ".") => {
    const r = Bun.spawnSync(["bash", "-c", line], { cwd: join(work, dir), env, stdout: "pipe", stderr: "pipe" });
    const out = { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    if (out.code !== 0) throw new Error(`\`${line}\` exited ${out.code}:\n${out.stdout}${out.stderr}`);
    return out;
  };
  const bg = (line: string) => {
    const b = new Background(spawn("bash", ["-c", `exec ${line}`], { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] }));
    background.push(b);
    return b;
  };

  beforeAll(() => {
    symlinkSync(join(ROOT, "examples"), join(work, "examples"));
    for (const d of ["algo", "data", "consumer"]) mkdirSync(join(work, d));
  });
  afterAll(async () => {
    for (const b of background.reverse()) await b.stop();
    killLeftovers(join(work, "manager-state"));
    rmSync(work, { recursive: true, force: true });
  });

  test("keys → computations serve → manager → algo, data, result over attested TLS → stop the VM", async () => {
    const serverPort = await freePort();
    const httpPort = await freePort();

    // each party, in its own directory (Go flag spellings as in Cocos's docs)
    sh("cocos-cli keys -k ed25519", "algo");
    sh('cocos-cli keys -k="ecdsa"', "data");
    sh("cocos-cli keys -k=ed25519", "consumer");

    // the control plane: the manifest names each party's key; attested TLS on
    const server = bg(
      `cocos-cli computations serve examples/dist/iris-train.wasm algo/public.pem true examples/data/Iris.csv ` +
        `--data-key data/public.pem --consumer-key consumer/public.pem --policy-out policy.json --port ${serverPort}`,
    );
    await server.waitFor(/listening at/, "computations server");
    // the host side
    const manager = bg(`env MANAGER_GRPC_URL=localhost:${serverPort} MANAGER_HTTP_PORT=${httpPort} MANAGER_STATE_DIR=manager-state cocos-manager`);
    const port = (await server.waitFor(/run +computation=1 agent_port=(\d+)/, "agent port"))[1]!;
    await server.waitFor(/attestation policy for computation 1 written/, "policy");

    // the parties, once the manager has answered with the agent's port
    const exports = `export AGENT_GRPC_URL=localhost:${port} AGENT_GRPC_ATTESTED_TLS=true AGENT_GRPC_ATTESTATION_POLICY=policy.json COCOS_COMPUTATION_ID=1`;
    const algo = sh(`${exports}; cocos-cli algo examples/dist/iris-train.wasm algo/private.pem -a=wasm`);
    expect(algo.stdout).toContain("Successfully uploaded algorithm");
    // Sim evidence is labelled as such (never "AMD SEV-SNP"): here the process backend's sim provider.
    expect(algo.stdout + algo.stderr).toContain("SIMULATED");
    sh(`${exports}; cocos-cli data examples/data/Iris.csv data/private.pem`);
    await server.waitFor(/event +ConsumingResults\/Ready +computation=1/, "results ready", 25_000);
    sh(`${exports}; cocos-cli result consumer/private.pem`);
    const files = unzipSync(new Uint8Array(readFileSync(join(work, "results.zip"))));
    expect(Object.keys(files)).toContain("model.json");

    // the manager's HTTP API, with the token it wrote into its state dir
    const token = `"Authorization: Bearer $(cat manager-state/http-token)"`;
    expect(JSON.parse(sh(`curl -sf -H ${token} localhost:${httpPort}/vms`).stdout).map((v: { computationId: string }) => v.computationId)).toContain("1");
    sh(`curl -sf -X DELETE -H ${token} localhost:${httpPort}/vms/1`);
    expect(manager.child.exitCode).toBeNull();
  }, 30_000);
});
