// A computation as the console holds it (participants with roles and keys, assets by checksum) →
// the Cocos manifest, its canonical JSON and hash exactly as `cocos-cli checksum --manifest` computes
// them (protocol/manifest.ts), or the list of what is still missing.
import { keyTypeOf, loadPublicKey, pemEncode, publicKeyDer, type KeyType } from "../protocol/keys.ts";
import { manifestHash, manifestToJSON, parseManifest, checkFilename, parseResourcePath, sourceTypeOf, type KbsConfig, type Manifest, type ResourceSource } from "../protocol/manifest.ts";
import { toHex } from "../protocol/hash.ts";
import { ApiError, shown } from "./errors.ts";
import { ALGO_TYPES, type AlgoRun, type AlgoType, type Asset, type AssetKind, type AssetSource, type Computation, type Participant } from "./store.ts";

export interface ManifestPreview {
  /** Canonical JSON (what the agent receives and the hash binds), or null while something is missing. */
  json: string | null;
  sha3_256: string | null;
  manifest: Manifest | null;
  missing: string[];
}

/** A participant's key as uploaded: any PEM public key of an accepted type, normalized to SPKI PEM. */
export function normalizePublicKey(pem: unknown, field = "public_key"): { pem: string; type: KeyType } {
  if (typeof pem !== "string" || !pem.includes("-----BEGIN")) {
    throw new ApiError(400, "invalid_public_key", `${field}: expected a PEM public key (RSA, ECDSA P-256 or Ed25519, "-----BEGIN PUBLIC KEY-----"), got ${shown(pem)}`);
  }
  checkIsPublicPem(pem);
  let der: Uint8Array;
  let type: KeyType;
  try {
    const key = loadPublicKey(pem);
    type = keyTypeOf(key);
    der = publicKeyDer(key);
  } catch (e) {
    throw new ApiError(400, "invalid_public_key", `${field}: expected a PEM public key (RSA, ECDSA P-256 or Ed25519): ${(e as Error).message}`);
  }
  return { pem: pemEncode("PUBLIC KEY", der), type };
}

/** loadPublicKey derives the public half of a private key PEM: refuse one explicitly, it must not be uploaded. */
function checkIsPublicPem(pem: string): void {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new ApiError(400, "invalid_public_key", "public_key: this is a private key; upload only the public key (public.pem), and keep private.pem to yourself");
}

export function checkSha3(v: unknown, field = "sha3_256"): string {
  if (typeof v !== "string" || !/^[0-9a-fA-F]{64}$/.test(v)) {
    throw new ApiError(400, "invalid_checksum", `${field}: expected the SHA3-256 of the file as 64 hex characters (cocos-cli checksum FILE), got ${shown(v)}`);
  }
  return v.toLowerCase();
}

export function checkAssetFilename(v: unknown): string {
  if (typeof v !== "string") throw new ApiError(400, "invalid_filename", `filename: expected a file name, got ${shown(v)}`);
  const bad = checkFilename(v);
  if (bad) throw new ApiError(400, "invalid_filename", `filename: ${bad}`);
  return v;
}

/** An optional URL field: '' or a URL whose scheme `ok` accepts, without credentials (everyone reads the manifest). */
function urlField(v: unknown, field: string, expected: string, ok: (url: string) => boolean): string {
  if (v === undefined || v === "") return "";
  if (typeof v !== "string" || v.length > 2048 || /[\x00-\x20\x7f]/.test(v)) throw new ApiError(400, "invalid_source", `${field}: expected ${expected} (at most 2048 characters, no spaces), got ${shown(v)}`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ApiError(400, "invalid_source", `${field}: expected ${expected}, got ${shown(v)}`);
  }
  if (!ok(v)) throw new ApiError(400, "invalid_source", `${field}: expected ${expected}, got ${shown(v)}`);
  if (u.username || u.password) throw new ApiError(400, "invalid_source", `${field}: must not carry credentials (user:password@): the manifest is not secret`);
  return v;
}

/**
 * An asset's source fields from a request or an import (`field` prefixes the names in errors):
 * `source_url` (http(s):// or oci://), `encrypted` with its `kbs_resource_path` ("repo/type/tag"),
 * and `kbs_url` (default: the console's own broker). The same rules the agent's parser applies.
 */
export function checkAssetSource(b: Record<string, unknown>, field = ""): AssetSource {
  const source_url = urlField(b.source_url, `${field}source_url`, "an https://, http:// or oci:// URL the agent fetches the asset from", (u) => sourceTypeOf(u) !== null);
  if (b.encrypted !== undefined && typeof b.encrypted !== "boolean") throw new ApiError(400, "invalid_source", `${field}encrypted: expected true or false, got ${shown(b.encrypted)}`);
  const encrypted = b.encrypted === true;
  const path = b.kbs_resource_path ?? "";
  if (typeof path !== "string") throw new ApiError(400, "invalid_source", `${field}kbs_resource_path: expected "repository/type/tag", got ${shown(path)}`);
  const kbs_url = urlField(b.kbs_url, `${field}kbs_url`, "the key broker's https:// or http:// base URL", (u) => /^https?:\/\//i.test(u));
  if (!encrypted) {
    if (path !== "" || kbs_url !== "") throw new ApiError(400, "invalid_source", `${field}kbs_resource_path, ${field}kbs_url: expected none for an asset that is not encrypted (set encrypted: true), got ${shown(path || kbs_url)}`);
    return { source_url, encrypted, kbs_resource_path: "", kbs_url: "" };
  }
  if (path === "") throw new ApiError(400, "invalid_source", `${field}kbs_resource_path: an encrypted asset needs the KBS resource of its key, expected "repository/type/tag", got nothing`);
  const parts = parseResourcePath(path);
  if (typeof parts === "string") throw new ApiError(400, "invalid_source", `${field}kbs_resource_path: ${parts}`);
  return { source_url, encrypted, kbs_resource_path: path, kbs_url };
}

export const MAX_ALGO_ARGS = 64;
export const MAX_ALGO_ARG_LENGTH = 4096;

/**
 * An asset's `algo_type` (one of ALGO_TYPES, or none) and `algo_args` (strings) from a request or an
 * import (`field` prefixes the names in errors). Only an algorithm has them: the manager boots the
 * guest image its type needs and the agent refuses an upload of another type, so they must be right.
 */
export function checkAlgoRun(b: Record<string, unknown>, kind: AssetKind, field = ""): AlgoRun {
  const type = b.algo_type ?? "";
  if (typeof type !== "string" || (type !== "" && !ALGO_TYPES.includes(type as AlgoType))) throw new ApiError(400, "invalid_algorithm", `${field}algo_type: expected one of ${ALGO_TYPES.join(", ")} (or none), got ${shown(type)}`);
  const args = b.algo_args ?? [];
  if (!Array.isArray(args) || args.length > MAX_ALGO_ARGS) throw new ApiError(400, "invalid_algorithm", `${field}algo_args: expected an array of at most ${MAX_ALGO_ARGS} strings, got ${shown(args)}`);
  args.forEach((a, i) => {
    if (typeof a !== "string" || a.length > MAX_ALGO_ARG_LENGTH || a.includes("\0")) throw new ApiError(400, "invalid_algorithm", `${field}algo_args[${i}]: expected a string of at most ${MAX_ALGO_ARG_LENGTH} characters without NUL, got ${shown(a)}`);
  });
  if (kind !== "algorithm" && (type !== "" || args.length)) throw new ApiError(400, "invalid_algorithm", `${field}algo_type, ${field}algo_args: expected none for a dataset (only the algorithm has a type and arguments), got ${shown(type || args)}`);
  return { algo_type: type as AlgoType | "", algo_args: args as string[] };
}

/** The manifest's `algo_type` / `algo_args`, only the set ones (unset = left out: the hash of older manifests stays). */
function algoRunFields(a: AlgoRun): { algo_type?: string; algo_args?: string[] } {
  return { ...(a.algo_type ? { algo_type: a.algo_type } : {}), ...(a.algo_args.length ? { algo_args: [...a.algo_args] } : {}) };
}

/** The manifest's `source` and `kbs` of an asset, as protocol/manifest.ts encodes them (unset = left out). */
function resourceFields(a: AssetSource, consoleKbsUrl: string): { source?: ResourceSource; kbs?: KbsConfig } {
  const source: ResourceSource = {};
  if (a.source_url) source.url = a.source_url;
  if (a.encrypted) Object.assign(source, { kbs_resource_path: a.kbs_resource_path, encrypted: true });
  return {
    ...(Object.keys(source).length ? { source } : {}),
    ...(a.encrypted ? { kbs: { url: a.kbs_url || consoleKbsUrl, enabled: true } } : {}),
  };
}

const der = (pem: string) => publicKeyDer(loadPublicKey(pem));

/** `consoleKbsUrl`: the console's own key broker (CONSOLE_PUBLIC_URL), for encrypted assets that name none. */
export function previewManifest(c: Computation, participants: Participant[], assets: Asset[], consoleKbsUrl: string): ManifestPreview {
  const missing: string[] = [];
  const byId = new Map(participants.map((p) => [p.id, p]));
  const keyOf = (p: Participant | undefined, what: string): Uint8Array => {
    if (!p) {
      missing.push(`${what}: its provider is no longer a participant`);
      return new Uint8Array(0);
    }
    if (!p.public_key) {
      missing.push(`${p.username} (${p.role}) has not uploaded a public key`);
      return new Uint8Array(0);
    }
    return der(p.public_key);
  };
  const algos = assets.filter((a) => a.kind === "algorithm");
  if (algos.length === 0) missing.push("no algorithm registered");
  const datasets = assets.filter((a) => a.kind === "dataset");
  const consumers = participants.filter((p) => p.role === "result_consumer");
  if (consumers.length === 0) missing.push("no result consumer");
  const noKey = participants.filter((p) => !p.public_key);
  const algo = algos[0];
  const m: Manifest = {
    id: c.id,
    name: c.name,
    description: c.description,
    datasets: datasets.map((d) => ({ hash: Buffer.from(d.sha3_256, "hex"), user_key: keyOf(byId.get(d.provider_id), `dataset ${d.filename}`), filename: d.filename, ...resourceFields(d, consoleKbsUrl) })),
    algorithm: {
      hash: algo ? Buffer.from(algo.sha3_256, "hex") : new Uint8Array(32),
      user_key: algo ? keyOf(byId.get(algo.provider_id), `algorithm ${algo.filename}`) : new Uint8Array(0),
      ...(algo ? { ...resourceFields(algo, consoleKbsUrl), ...algoRunFields(algo) } : {}),
    },
    result_consumers: consumers.map((p) => ({ user_key: keyOf(p, "result consumer") })),
    agent_config: { port: c.agent_port, log_level: c.log_level, attested_tls: c.attested_tls },
    ...(c.signatures ? { signatures: c.signatures as Manifest["signatures"] } : {}),
  };
  // Participants without a key and without an asset yet are missing too (the UI marks them).
  for (const p of noKey) {
    const line = `${p.username} (${p.role}) has not uploaded a public key`;
    if (!missing.includes(line)) missing.push(line);
  }
  if (missing.length) return { json: null, sha3_256: null, manifest: null, missing };
  const json = manifestToJSON(m);
  // Round-trip through the parser the agent uses: whatever it would refuse is refused here first.
  parseManifest(json);
  return { json, sha3_256: toHex(manifestHash(m)), manifest: m, missing };
}
