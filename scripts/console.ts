#!/usr/bin/env bun
// `./cocos console` (`bun scripts/console.ts [--port N] [--keep]`): starts the console, a
// process-backend manager connected to it, and seeds the Iris training computation with three
// parties (their keys made with cocos-cli), then prints the URL and the logins. The pieces are
// exported for test/console-e2e.test.ts.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { hashFile, toHex } from "../protocol/hash.ts";
import { Program, ROOT, freePort, killLeftovers, programs, type BinMode } from "./iris-workflow.ts";

/** A bearer-token client of the console API; throws with the API's error message on failure. */
export class ConsoleClient {
  constructor(readonly url: string, public token = "") {}

  async call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    // Unauthenticated calls (register, token) need the CSRF header like a browser's.
    if (!this.token) headers["x-cocos-csrf"] = "1";
    const r = await fetch(this.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${text}`);
    return (text ? (r.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) : null) as T;
  }

  /** Registers (first user = admin) and switches this client to the user's bearer token. */
  static async register(url: string, username: string, password: string): Promise<ConsoleClient> {
    const anon = new ConsoleClient(url);
    await anon.call("POST", "/api/auth/register", { username, password });
    const { token } = await anon.call<{ token: string }>("POST", "/api/auth/token", { username, password, name: "script" });
    return new ConsoleClient(url, token);
  }
}

export interface StackOptions {
  workDir: string;
  bins?: BinMode | "auto";
  httpPort?: number;
  grpcPort?: number;
  show?: (program: string, line: string) => void;
}

export function consoleArgv(mode: BinMode): string[] {
  const dist = join(process.env.COCOS_DIST_DIR || join(ROOT, "dist"), "cocos-console");
  return mode === "dist" && existsSync(dist) ? [dist] : [process.execPath, join(ROOT, "console", "main.ts")];
}

/** Starts the console program on the work dir's SQLite database; resolves once it listens. */
export async function startConsoleProgram(o: StackOptions & { httpPort: number; grpcPort: number; env?: Record<string, string> }): Promise<{ program: Program; url: string }> {
  const mode = programs(o.bins).mode;
  const argv = consoleArgv(mode);
  const env = { ...process.env, CONSOLE_DB: `sqlite:${join(o.workDir, "console.db")}`, CONSOLE_HTTP_PORT: String(o.httpPort), CONSOLE_GRPC_PORT: String(o.grpcPort), ...o.env };
  const child = spawn(argv[0]!, argv.slice(1), { cwd: o.workDir, env, stdio: ["ignore", "pipe", "pipe"] });
  const program = new Program("console", child, (l) => o.show?.("console", l));
  await program.waitFor(/"console listening"/, 30_000, program.lines.length);
  return { program, url: `http://127.0.0.1:${o.httpPort}` };
}

/** A process-backend manager that dials the console as `id` with its registered token. */
export function startManagerProgram(o: StackOptions & { grpcPort: number; id: string; token: string }): Program {
  const progs = programs(o.bins);
  const env = {
    ...process.env,
    MANAGER_GRPC_URL: `127.0.0.1:${o.grpcPort}`,
    MANAGER_ID: o.id,
    MANAGER_CONSOLE_TOKEN: o.token,
    MANAGER_BACKEND: "process",
    MANAGER_AGENT_BIN: progs.agent.join(" "),
    MANAGER_STATE_DIR: join(o.workDir, "manager-state"),
    MANAGER_HTTP_PORT: "off",
    MANAGER_GRPC_RECONNECT_INITIAL: "200ms",
    MANAGER_GRPC_RECONNECT_MAX: "1s",
    MANAGER_STOP_GRACE: "5s",
  };
  const child = spawn(progs.manager[0]!, progs.manager.slice(1), { cwd: o.workDir, env, stdio: ["ignore", "pipe", "pipe"] });
  return new Program("manager", child, (l) => o.show?.("manager", l));
}

/** One cocos-cli run in `cwd`; throws with its output on a non-zero exit. */
export async function cli(bins: BinMode | "auto" | undefined, cwd: string, args: string[], env: Record<string, string> = {}): Promise<string[]> {
  const progs = programs(bins);
  const child = spawn(progs.cli[0]!, [...progs.cli.slice(1), ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const p = new Program("cli", child, () => {});
  const t = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const code = await p.exited;
  clearTimeout(t);
  if (code !== 0) throw new Error(`cocos-cli ${args.join(" ")} failed (exit ${code}):\n${p.lines.join("\n")}`);
  return p.lines;
}

export const IRIS = {
  algorithm: join(ROOT, "examples", "dist", "iris-train.wasm"),
  dataset: join(ROOT, "examples", "data", "Iris.csv"),
};

export interface Party {
  username: string;
  password: string;
  role: "algorithm_provider" | "data_provider" | "result_consumer";
  dir: string;
  api: ConsoleClient;
}

/**
 * The Iris training computation, made through the API as people would: the owner creates it and adds
 * three parties; each makes a key pair with cocos-cli and uploads the public half; the providers
 * register their files by SHA3-256 and name.
 */
export async function seedIris(owner: ConsoleClient, o: { workDir: string; bins?: BinMode | "auto"; password?: (u: string) => string }): Promise<{ computationId: string; parties: Party[] }> {
  const comp = (await owner.call("POST", "/api/computations", { name: "Iris training", description: "Train a classifier on Iris.csv inside the agent (examples/iris-train)" })).computation;
  const parties: Party[] = [];
  for (const [username, role, keyType] of [
    ["algo-provider", "algorithm_provider", "ed25519"],
    ["data-provider", "data_provider", "ecdsa"],
    ["consumer", "result_consumer", "ed25519"],
  ] as const) {
    const password = o.password?.(username) ?? `${username}-${crypto.randomUUID().slice(0, 8)}`;
    const dir = join(o.workDir, username);
    mkdirSync(dir, { recursive: true });
    const api = await ConsoleClient.register(owner.url, username, password);
    await cli(o.bins, dir, ["keys", "-k", keyType]);
    const { participant } = await owner.call("POST", `/api/computations/${comp.id}/participants`, { username, role });
    await api.call("PUT", `/api/computations/${comp.id}/participants/${participant.id}/key`, { public_key: readFileSync(join(dir, "public.pem"), "utf8") });
    parties.push({ username, password, role, dir, api });
  }
  await parties[0]!.api.call("POST", `/api/computations/${comp.id}/assets`, { kind: "algorithm", filename: "iris-train.wasm", sha3_256: toHex(await hashFile(IRIS.algorithm)) });
  await parties[1]!.api.call("POST", `/api/computations/${comp.id}/assets`, { kind: "dataset", filename: "Iris.csv", sha3_256: toHex(await hashFile(IRIS.dataset)) });
  return { computationId: comp.id, parties };
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Bun.argv.slice(2), options: { port: { type: "string", default: "7010" }, "grpc-port": { type: "string", default: "7001" }, keep: { type: "boolean", default: false } } });
  const workDir = values.keep ? join(ROOT, ".cocos", "console-demo") : mkdtempSync(join(tmpdir(), "cocos-console-"));
  if (values.keep) rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const httpPort = Number(values.port);
  const grpcPort = Number(values["grpc-port"]);
  const running: Program[] = [];
  const stop = async () => {
    for (const p of running.reverse()) await p.stop();
    // The manager leaves its VMs running when it stops (they outlive it by design): end them too.
    killLeftovers(join(workDir, "manager-state"));
    if (!values.keep) rmSync(workDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    const { program, url } = await startConsoleProgram({ workDir, httpPort, grpcPort });
    running.push(program);
    const adminPassword = `admin-${crypto.randomUUID().slice(0, 8)}`;
    const admin = await ConsoleClient.register(url, "admin", adminPassword);
    const { token } = await admin.call("POST", "/api/managers", { id: "local", description: "process-backend manager on this machine" });
    const manager = startManagerProgram({ workDir, grpcPort, id: "local", token });
    running.push(manager);
    const seeded = await seedIris(admin, { workDir });
    console.log(`\nCocos console: ${url}`);
    console.log(`  admin (owner of "Iris training"): admin / ${adminPassword}`);
    for (const p of seeded.parties) console.log(`  ${p.role.padEnd(18)}: ${p.username} / ${p.password}   (keys in ${p.dir})`);
    console.log(`  manager "local" (process backend) dials 127.0.0.1:${grpcPort}`);
    console.log(`  API: ${url}/openapi.json    work dir: ${workDir}\nCtrl-C stops everything.`);
  } catch (e) {
    console.error(`console demo failed: ${(e as Error).message}`);
    for (const p of running.reverse()) await p.stop();
    killLeftovers(join(workDir, "manager-state"));
    process.exit(1);
  }
}
