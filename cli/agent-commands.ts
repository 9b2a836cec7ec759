// `algo`, `data`, `result`: the three parties' commands against a running agent.
import { readFileSync, statSync } from "node:fs";
import { basename, isAbsolute, resolve } from "node:path";
import type { KeyObject } from "node:crypto";
import { loadPrivateKey } from "../protocol/keys.ts";
import { escapeControl } from "../protocol/text.ts";
import { signRequest, signRole } from "../protocol/signature.ts";
import { zipDirectory } from "../protocol/zip.ts";
import { manifestFromFile } from "./computations.ts";
import {
  DEFAULT_MAX_RESULT_BYTES,
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
import { refuseExisting } from "./output-file.ts";
import { progress } from "./progress.ts";

export interface SigningOptions {
  /** "v1" | "v2" (default v2); overrides COCOS_SIGNATURE. */
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

/**
 * v1 (Cocos-compatible) signs the role; v2 binds role, method, computation, the agent's TLS key
 * (audience), time and a nonce.
 */
export function makeSigner(key: KeyObject, version: "v1" | "v2", computationId: string | undefined): Signer {
  if (version === "v2" && !computationId) {
    throw new CliError(
      "v2 signatures (the default) bind the computation id, and it is unknown: pass --manifest FILE (the computation's manifest), --computation-id ID, or set COCOS_COMPUTATION_ID (--signature v1 only for a Cocos agent that cannot check v2)",
    );
  }
  return (role: Role, method: AgentMethod, audience: string) =>
    version === "v1"
      ? { "user-id": role, signature: signRole(key, role) }
      : signRequest(key, { role, method: `/agent.AgentService/${method}`, computationId: computationId!, audience });
}

/** The signature scheme and computation id from the flags, COCOS_* and the manifest, checked for agreement. */
function signingChoice(ctx: CliContext, cfg: AgentClientConfig, sig: SigningOptions): { version: "v1" | "v2"; computationId?: string } {
  const m = sig.manifest ? manifestFromFile(abs(ctx, sig.manifest)) : undefined;
  const version = sig.signature ?? (ctx.env.COCOS_SIGNATURE ? cfg.signature : "v2");
  if (version !== "v1" && version !== "v2") throw new CliError(`--signature: expected v1 or v2, got ${JSON.stringify(version)}`);
  if (version === "v1" && m?.signatures === "v2-only") {
    throw new CliError(`the manifest ${sig.manifest} accepts only v2 signatures ("signatures": "v2-only"); drop --signature v1 / COCOS_SIGNATURE=v1`);
  }
  if (version === "v1") ctx.err("warning: v1 signatures (Cocos compatibility) are replayable: anyone who sees this request can repeat it");
  const given = sig.computationId ?? (ctx.env.COCOS_COMPUTATION_ID || undefined);
  if (given !== undefined && m && given !== m.id) {
    throw new CliError(`the computation id ${JSON.stringify(given)} (--computation-id / COCOS_COMPUTATION_ID) differs from the manifest's ${JSON.stringify(m.id)}`);
  }
  return { version, computationId: given ?? m?.id };
}

function agentSetup(ctx: CliContext, keyPath: string, sig: SigningOptions): { cfg: AgentClientConfig; signer: Signer; key: KeyObject } {
  let cfg: AgentClientConfig;
  try {
    cfg = loadAgentClientConfig(ctx.env);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const { version, computationId } = signingChoice(ctx, cfg, sig);
  const key = readPrivateKey(abs(ctx, keyPath));
  return { cfg, signer: makeSigner(key, version, computationId), key };
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
  if (conn.summary) ctx.out(escapeControl(conn.summary)); // quotes the agent's evidence
  for (const w of conn.warnings ?? []) ctx.err(`warning: ${w}`);
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

export interface ResultOptions extends SigningOptions {
  /** Largest result accepted, e.g. "1GiB", "500MB", "1048576" (default 1 GiB). */
  maxSize?: string;
  /** Replace an existing output file. */
  force?: boolean;
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3, t: 1e12, tb: 1e12, tib: 1024 ** 4 };

/** "1GiB" → 1073741824; decimal (kB, MB, GB) and binary (KiB, MiB, GiB) units. */
export function parseByteSize(text: string, name: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  const n = m && unit ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new CliError(`${name}: expected a positive size such as 1048576, 500MB or 2GiB, got ${JSON.stringify(text)}`);
  return n;
}

export async function resultCommand(ctx: CliContext, keyPath: string, file: string | undefined, o: ResultOptions, attested?: AttestedCredentialsFactory): Promise<void> {
  const name = file ?? "results.zip";
  const out = abs(ctx, name);
  const maxBytes = o.maxSize === undefined ? DEFAULT_MAX_RESULT_BYTES : parseByteSize(o.maxSize, "--max-size");
  // Before anything is asked of the agent: an existing file is kept unless --force.
  refuseExisting(out, Boolean(o.force), "the result file");
  const { cfg, signer, key } = agentSetup(ctx, keyPath, o);
  ctx.out("⏳ Retrieving computation result file");
  await withAgent(ctx, cfg, attested, (conn) =>
    downloadResult(conn, signer, { outPath: out, maxBytes, force: Boolean(o.force), consumerKey: key }, progress("📥 Downloading result", ctx.tty), cfg.url),
  );
  ctx.out(`Computation result retrieved and saved successfully as ${name}! ✔ `);
}
