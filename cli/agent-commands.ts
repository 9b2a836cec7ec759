// `algo`, `data`, `result`: the three parties' commands against a running agent.
import { readFileSync, statSync } from "node:fs";
import { basename, isAbsolute, resolve } from "node:path";
import type { KeyObject } from "node:crypto";
import { loadPrivateKey } from "../protocol/keys.ts";
import { signRequest, signRole } from "../protocol/signature.ts";
import { zipDirectory } from "../protocol/zip.ts";
import { manifestFromFile } from "./computations.ts";
import {
  connectAgent,
  downloadResult,
  uploadAlgorithm,
  uploadDataset,
  type AgentConnection,
  type AgentMethod,
  type AttestedCredentialsFactory,
  type Role,
  type Signer,
} from "./agent-client.ts";
import { loadAgentClientConfig, type AgentClientConfig } from "./config.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { progress } from "./progress.ts";

export interface SigningOptions {
  /** "v1" | "v2"; overrides COCOS_SIGNATURE. */
  signature?: string;
  /** Needed for v2 (bound into the signature); also COCOS_COMPUTATION_ID. */
  computationId?: string;
  /** The computation's manifest: its id, and v2 when it sets `signatures` to v2 or v2-only. */
  manifest?: string;
}

export function readPrivateKey(path: string): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (e) {
    throw new CliError(`could not read the private key ${path}: ${(e as Error).message}`);
  }
  try {
    return loadPrivateKey(pem);
  } catch (e) {
    throw new CliError(`${path} is not a usable private key: ${(e as Error).message}`);
  }
}

/** v1 (Cocos-compatible) signs the role; v2 binds role, method, computation, time and a nonce. */
export function makeSigner(key: KeyObject, version: "v1" | "v2", computationId: string | undefined): Signer {
  if (version === "v2" && !computationId) {
    throw new CliError("v2 signatures bind the computation id: pass --computation-id ID or set COCOS_COMPUTATION_ID");
  }
  return (role: Role, method: AgentMethod) =>
    version === "v1"
      ? { "user-id": role, signature: signRole(key, role) }
      : signRequest(key, { role, method: `/agent.AgentService/${method}`, computationId: computationId! });
}

function agentSetup(ctx: CliContext, keyPath: string, sig: SigningOptions): { cfg: AgentClientConfig; signer: Signer } {
  let cfg: AgentClientConfig;
  try {
    cfg = loadAgentClientConfig(ctx.env);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  let fromManifest: { id?: string; v2?: boolean } = {};
  if (sig.manifest) {
    const m = manifestFromFile(abs(ctx, sig.manifest));
    fromManifest = { id: m.id, v2: m.signatures === "v2" || m.signatures === "v2-only" };
  }
  const version = sig.signature ?? (fromManifest.v2 ? "v2" : cfg.signature);
  if (version !== "v1" && version !== "v2") throw new CliError(`--signature: expected v1 or v2, got ${JSON.stringify(version)}`);
  const key = readPrivateKey(abs(ctx, keyPath));
  return { cfg, signer: makeSigner(key, version, sig.computationId ?? ctx.env.COCOS_COMPUTATION_ID ?? fromManifest.id) };
}

function abs(ctx: CliContext, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.cwd, p);
}

function requireFile(path: string, what: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new CliError(`${what} ${path} does not exist: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new CliError(`${what} ${path}: expected a regular file`);
}

async function withAgent<T>(ctx: CliContext, cfg: AgentClientConfig, attested: AttestedCredentialsFactory | undefined, fn: (c: AgentConnection) => Promise<T>): Promise<T> {
  const conn = await connectAgent(cfg, attested);
  if (conn.summary) ctx.out(conn.summary);
  ctx.out(`🔗 Connected to agent using ${conn.mode}`);
  try {
    return await fn(conn);
  } finally {
    conn.close();
  }
}

export interface AlgoOptions extends SigningOptions {
  algorithm: string;
  args: string[];
  requirements?: string;
  pythonRuntime: string;
}

const ALGO_TYPES = ["bin", "python", "wasm", "docker"];

export async function algoCommand(ctx: CliContext, file: string, keyPath: string, o: AlgoOptions, attested?: AttestedCredentialsFactory): Promise<void> {
  if (!ALGO_TYPES.includes(o.algorithm)) throw new CliError(`-a/--algorithm: expected one of ${ALGO_TYPES.join(", ")}, got ${JSON.stringify(o.algorithm)}`);
  const algorithmPath = abs(ctx, file);
  requireFile(algorithmPath, "algorithm file");
  const requirementsPath = o.requirements ? abs(ctx, o.requirements) : undefined;
  if (requirementsPath) requireFile(requirementsPath, "requirements file");
  const { cfg, signer } = agentSetup(ctx, keyPath, o);
  ctx.out(`Uploading algorithm file: ${file}`);
  await withAgent(ctx, cfg, attested, (conn) =>
    uploadAlgorithm(
      conn,
      signer,
      { algorithmPath, requirementsPath, algoType: o.algorithm, args: o.args, pythonRuntime: o.pythonRuntime },
      progress("🚀 Uploading algorithm", ctx.tty),
      cfg.url,
    ),
  );
  ctx.out("Successfully uploaded algorithm! ✔ ");
}

export interface DataOptions extends SigningOptions {
  decompress: boolean;
}

export async function dataCommand(ctx: CliContext, path: string, keyPath: string, o: DataOptions, attested?: AttestedCredentialsFactory): Promise<void> {
  const full = abs(ctx, path);
  let st;
  try {
    st = statSync(full);
  } catch (e) {
    throw new CliError(`dataset ${path} does not exist: ${(e as Error).message}`);
  }
  const { cfg, signer } = agentSetup(ctx, keyPath, o);
  const filename = basename(full);
  // A directory travels as the same deterministic zip `checksum` hashes; the agent unpacks it.
  const source = st.isDirectory() ? { bytes: await zipDirectory(full) } : { path: full };
  const decompress = o.decompress || st.isDirectory();
  ctx.out(`Uploading dataset: ${path}`);
  await withAgent(ctx, cfg, attested, (conn) =>
    uploadDataset(conn, signer, { source, filename, decompress }, progress("📦 Uploading dataset", ctx.tty), cfg.url),
  );
  ctx.out("Successfully uploaded dataset! ✔ ");
}

export async function resultCommand(ctx: CliContext, keyPath: string, file: string | undefined, o: SigningOptions, attested?: AttestedCredentialsFactory): Promise<void> {
  const { cfg, signer } = agentSetup(ctx, keyPath, o);
  const name = file ?? "results.zip";
  const out = abs(ctx, name);
  ctx.out("⏳ Retrieving computation result file");
  await withAgent(ctx, cfg, attested, (conn) => downloadResult(conn, signer, out, progress("📥 Downloading result", ctx.tty), cfg.url));
  ctx.out(`Computation result retrieved and saved successfully as ${name}! ✔ `);
}

