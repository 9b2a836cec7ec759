// `cocos-cli computations serve ALGO PUBKEY ATTESTED_TLS [DATASET]...` (the original's
// test/computations) or `computations serve --manifest FILE` (several parties' keys).
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, isAbsolute, resolve } from "node:path";
import { hashPath, toHex } from "../protocol/hash.ts";
import { loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { manifestHash, parseManifest, runReqFromManifest, type Manifest } from "../protocol/manifest.ts";
import { parseGoBool } from "../protocol/env-values.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { formatClientMessage, startComputationsServer, type ComputationsServer } from "./computations-server.ts";

export interface ManifestInputs {
  algorithm: string;
  /** PEM public key of the algorithm provider, and of every other role not given its own key (as the original). */
  publicKey: string;
  /** Data providers' PEM public keys: one for every dataset, or one per dataset in order. */
  dataKeys?: string[];
  /** Result consumers' PEM public keys, one consumer each. */
  consumerKeys?: string[];
  attestedTls: boolean;
  datasets: string[];
  id?: string;
  agentPort?: string;
  /** Let the agent accept Cocos's replayable v1 signatures too (default: the manifest is "v2-only"). */
  cocosV1Signatures?: boolean;
}

function readPublicKeyDer(path: string): Uint8Array {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (e) {
    throw new CliError(`could not read the public key ${path}: ${(e as Error).message}`);
  }
  try {
    return publicKeyDer(loadPublicKey(pem));
  } catch (e) {
    throw new CliError(`${path} is not a usable public key: ${(e as Error).message}`);
  }
}

async function hashOf(path: string, what: string): Promise<Uint8Array> {
  try {
    statSync(path);
  } catch (e) {
    throw new CliError(`${what} ${path} does not exist: ${(e as Error).message}`);
  }
  return hashPath(path);
}

/**
 * The manifest of the original test server: id "1", its name/description, one key for every role;
 * and, unless asked for Cocos v1 compatibility, only replay-resistant v2 signatures.
 */
export async function manifestFromFiles(i: ManifestInputs): Promise<Manifest> {
  const key = readPublicKeyDer(i.publicKey);
  const dataKeys = (i.dataKeys ?? []).map(readPublicKeyDer);
  if (dataKeys.length > 1 && dataKeys.length !== i.datasets.length)
    throw new CliError(`--data-key: expected one key for every dataset or one per dataset (${i.datasets.length}), got ${dataKeys.length}`);
  const consumers = (i.consumerKeys ?? []).map(readPublicKeyDer);
  const datasets = [];
  for (const [n, d] of i.datasets.entries()) datasets.push({ hash: await hashOf(d, "dataset"), user_key: dataKeys[dataKeys.length > 1 ? n : 0] ?? key, filename: basename(d) });
  return {
    id: i.id ?? "1",
    name: "sample computation",
    description: "sample descrption",
    datasets,
    algorithm: { hash: await hashOf(i.algorithm, "algorithm"), user_key: key },
    result_consumers: (consumers.length ? consumers : [key]).map((user_key) => ({ user_key })),
    agent_config: { port: i.agentPort ?? "7002", log_level: "debug", attested_tls: i.attestedTls },
    ...(i.cocosV1Signatures ? {} : { signatures: "v2-only" as const }),
  };
}

export function manifestFromFile(path: string): Manifest {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new CliError(`could not read the manifest ${path}: ${(e as Error).message}`);
  }
  try {
    return parseManifest(text);
  } catch (e) {
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}

export interface ServeOptions {
  manifest?: string;
  /** Ask the manager for the attestation policy once the computation runs, and write it here. */
  policyOut?: string;
  id?: string;
  host?: string;
  port?: string;
  /** Built manifests accept v1 (Cocos) signatures too; a --manifest FILE is always sent as written. */
  cocosV1Signatures?: boolean;
  /** Built manifests: the data providers' and consumers' keys (default: the positional key). */
  dataKey?: string[];
  consumerKey?: string[];
}

/** Builds the manifest, serves it, prints every manager message; resolves with the running server. */
export async function serveCommand(ctx: CliContext, positional: string[], o: ServeOptions): Promise<ComputationsServer> {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(ctx.cwd, p));
  let manifest: Manifest;
  if (o.manifest) {
    if (positional.length) throw new CliError(`--manifest takes no ALGO/PUBKEY/DATASET arguments, got ${positional.join(" ")}`);
    if (o.cocosV1Signatures) throw new CliError(`--cocos-v1-signatures applies to a manifest built from files; with --manifest, set its "signatures" field`);
    if (o.dataKey?.length || o.consumerKey?.length) throw new CliError("--data-key and --consumer-key apply to a manifest built from files; with --manifest, the file names every key");
    manifest = manifestFromFile(abs(o.manifest));
    if (o.id) manifest.id = o.id;
  } else {
    if (positional.length < 3) {
      throw new CliError("usage: cocos-cli computations serve <algo-path> <public-key-path> <attested-tls-bool> [<dataset-path>...] (or --manifest FILE)");
    }
    const [algo, pub, tls, ...datasets] = positional as [string, string, string, ...string[]];
    let attestedTls: boolean;
    try {
      attestedTls = parseGoBool(tls, "attested-tls-bool");
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    manifest = await manifestFromFiles({
      algorithm: abs(algo),
      publicKey: abs(pub),
      dataKeys: o.dataKey?.map(abs),
      consumerKeys: o.consumerKey?.map(abs),
      attestedTls,
      datasets: datasets.map(abs),
      id: o.id,
      cocosV1Signatures: o.cocosV1Signatures,
    });
  }
  const host = o.host ?? ctx.env.HOST ?? "localhost";
  const port = Number(o.port ?? ctx.env.PORT ?? 7001);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`port: expected 0..65535, got ${o.port ?? ctx.env.PORT}`);
  const cert = ctx.env.SERVER_CERT;
  const key = ctx.env.SERVER_KEY;
  const tls = cert && key ? { serverCert: cert, serverKey: key, clientCaCerts: ctx.env.CLIENT_CA_CERTS || ctx.env.SERVER_CA_CERTS || undefined } : undefined;
  let server: ComputationsServer;
  try {
    server = await startComputationsServer({ host, port, runReq: runReqFromManifest(manifest) as Record<string, unknown>, tls });
  } catch (e) {
    throw new CliError(`could not listen on ${host}:${port}: ${(e as Error).message}`);
  }
  const mode = tls ? (tls.clientCaCerts ? "with mTLS" : "with TLS") : "without TLS";
  ctx.out(
    JSON.stringify({
      time: new Date().toISOString(),
      level: "INFO",
      msg: `computations_test_server service gRPC server listening at ${host}:${server.port} ${mode}`,
    }),
  );
  ctx.out(`manifest: computation ${JSON.stringify(manifest.id)}, ${manifest.datasets.length} dataset(s), ${manifest.result_consumers.length} consumer(s), signatures ${manifest.signatures ?? "v1 or v2"}, hash ${toHex(manifestHash(manifest))}`);
  server.onConnect((p) => ctx.out(`received who am on ip address ${p.peer}`));
  server.onMessage((m) => ctx.out(formatClientMessage(m)));
  if (o.policyOut) {
    const out = abs(o.policyOut);
    server.onMessage((m, peer) => {
      if (m.run_res?.computation_id === manifest.id && m.run_res.agent_port) peer.send({ attestationPolicyReq: { id: manifest.id } });
      if (m.attestationPolicy?.id === manifest.id) {
        writeFileSync(out, m.attestationPolicy.info);
        ctx.out(`attestation policy for computation ${manifest.id} written to ${out}`);
      }
    });
  }
  server.onDisconnect((p) => ctx.out(`manager ${p.peer} disconnected`));
  return server;
}
