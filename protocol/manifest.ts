// The computation manifest: Cocos's `agent.Computation` (v0.4.0), its Go encoding/json form (what
// `checksum --manifest` hashes and SEV-SNP HOST_DATA binds), and the ComputationRunReq proto form.
import { sha3_256 } from "./hash.ts";
import { keyTypeOf, loadPublicKey, KeyError } from "./keys.ts";

export interface AgentConfig {
  log_level?: string;
  host?: string;
  port?: string;
  cert_file?: string;
  /** JSON key `server_key` (Cocos's name), proto field `key_file`. */
  key_file?: string;
  server_ca_file?: string;
  client_ca_file?: string;
  attested_tls?: boolean;
}

export interface ManifestDataset {
  hash: Uint8Array;
  user_key: Uint8Array;
  filename: string;
  /** Cocos v0.10 (below): written to the JSON only when set, so a v0.4 manifest hashes as before. */
  source?: ResourceSource;
  decompress?: boolean;
  kbs?: KbsConfig;
}

// ---- Cocos v0.10 per-resource `source` and `kbs` (agent/computations.go `ResourceSource`, `KBSConfig`) ----
/** The key broker of one resource (Cocos v0.10: per resource, no global KBS). */
export interface KbsConfig {
  url?: string;
  enabled?: boolean;
}

function parseKbs(v: unknown, field: string): KbsConfig | undefined {
  if (v === undefined || v === null) return undefined;
  const o = obj(v, field);
  if (o.enabled !== undefined && typeof o.enabled !== "boolean") throw new ManifestError(`${field}.enabled`, `expected a boolean, got ${typeof o.enabled}`);
  const k: KbsConfig = {};
  const url = str(o.url, `${field}.url`);
  if (url) k.url = url;
  if (o.enabled) k.enabled = true;
  return k;
}

/** "repository/type/tag" → its three parts, or a reason. */
export function parseResourcePath(path: string): [string, string, string] | string {
  const parts = path.split("/");
  // "." / ".." would be resolved away by URL normalisation and name another resource.
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9._-]+$/.test(p) || /^\.+$/.test(p))) return `expected "repository/type/tag" (letters, digits, . _ -; not . or ..), got ${JSON.stringify(path)}`;
  return parts as [string, string, string];
}

/** An encrypted resource is usable only with a key broker: its URL and the key's resource path. */
function checkSealed(r: { source?: ResourceSource; kbs?: KbsConfig }, field: string): void {
  if (!r.source?.encrypted) return;
  if (!r.kbs?.enabled || !r.kbs.url) throw new ManifestError(`${field}.kbs`, `source.encrypted needs kbs.enabled and kbs.url, got ${JSON.stringify(r.kbs ?? null)}`);
  const path = parseResourcePath(r.source.kbs_resource_path ?? "");
  if (typeof path === "string") throw new ManifestError(`${field}.source.kbs_resource_path`, path);
}

/** The optional v0.10 fields of a resource, parsed and checked; only set ones are returned. */
function parseSealedFields(o: Record<string, unknown>, field: string, withDecompress: boolean): { source?: ResourceSource; decompress?: boolean; kbs?: KbsConfig } {
  const out: { source?: ResourceSource; decompress?: boolean; kbs?: KbsConfig } = {};
  const source = parseSource(o.source, `${field}.source`);
  const kbs = parseKbs(o.kbs, `${field}.kbs`);
  if (source) out.source = source;
  if (withDecompress && o.decompress !== undefined) {
    if (typeof o.decompress !== "boolean") throw new ManifestError(`${field}.decompress`, `expected a boolean, got ${typeof o.decompress}`);
    if (o.decompress) out.decompress = true;
  }
  if (kbs) out.kbs = kbs;
  checkSealed(out, field);
  return out;
}

function kbsJSON(k: KbsConfig): string {
  const f: string[] = [];
  if (k.url) f.push(`"url":${goJSONString(k.url)}`);
  if (k.enabled) f.push(`"enabled":true`);
  return `{${f.join(",")}}`;
}
// ---- end of the v0.10 block ----

/**
 * "v1" / "v2" (or unset): both signature versions accepted. "v2-only": constant-role v1 signatures are
 * refused. Only a set value is written to the JSON, so a manifest without it hashes exactly as Cocos's.
 */
export type SignaturePolicy = "v1" | "v2" | "v2-only";

/**
 * Where the algorithm's stdout/stderr go. "keep" (or unset): they stay in the agent. "results": they
 * are added to the results archive (under GUEST_OUTPUT_DIR). "forward": every line is also sent to
 * the host as a log record, which reveals whatever the algorithm prints. Written to the JSON only when
 * set, like `signatures`.
 */
export type GuestOutputPolicy = "keep" | "results" | "forward";
export const GUEST_OUTPUT_POLICIES: readonly GuestOutputPolicy[] = ["keep", "results", "forward"];

// ── Remote sources and sealed results (Cocos v0.10 `source.url`/`source.type`; `seal_results` is ours) ──

/** Cocos v0.10 `Source` types this agent fetches itself; "s3" and "gcs" are Cocos's too, refused here. */
export const SOURCE_TYPES = ["http", "https", "oci-image"] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

/** A resource's `source` (Cocos v0.10 `ResourceSource`): where the agent fetches it instead of an upload. */
export interface ResourceSource {
  /** Cocos's `type`; inferred from the URL's scheme when unset (and then not written). */
  type?: SourceType;
  /** `https://…`, `http://…`, `oci://registry/repo@sha256:…` (or `:tag`; `docker://` too, as Cocos). */
  url?: string;
  /** The KBS resource holding the AES-256-GCM key: "repository/type/tag" (e.g. "default/key/iris"). */
  kbs_resource_path?: string;
  /** The bytes are `nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16)`, decrypted in the enclave with the KBS key. */
  encrypted?: boolean;
}

/** The source type a URL's scheme names (Cocos's `inferSourceType`), or null. */
export function sourceTypeOf(url: string): SourceType | null {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "http" || scheme === "https") return scheme;
  if (scheme === "oci" || scheme === "docker") return "oci-image";
  return null;
}

function parseSource(v: unknown, field: string): ResourceSource | undefined {
  if (v === undefined || v === null) return undefined;
  const o = obj(v, field);
  const url = str(o.url, `${field}.url`);
  const type = str(o.type, `${field}.type`);
  const out: ResourceSource = {};
  const path = str(o.kbs_resource_path, `${field}.kbs_resource_path`);
  if (path) out.kbs_resource_path = path;
  if (o.encrypted !== undefined && typeof o.encrypted !== "boolean") throw new ManifestError(`${field}.encrypted`, `expected a boolean, got ${typeof o.encrypted}`);
  if (o.encrypted) out.encrypted = true;
  if (url === "") {
    if (type !== "") throw new ManifestError(`${field}.url`, `source type ${JSON.stringify(type)} needs a url`);
    return out;
  }
  const inferred = sourceTypeOf(url);
  if (!inferred) throw new ManifestError(`${field}.url`, `expected an https://, http:// or oci:// URL, got ${JSON.stringify(url.slice(0, 200))}`);
  if (type !== "" && type !== inferred) {
    throw new ManifestError(`${field}.type`, `expected ${SOURCE_TYPES.map((t) => JSON.stringify(t)).join(", ")} matching the URL (${JSON.stringify(inferred)}), got ${JSON.stringify(type)}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ManifestError(`${field}.url`, `not a valid URL: ${JSON.stringify(url.slice(0, 200))}`);
  }
  // Everyone who reads the manifest (the host included) would read a secret written into it.
  if (parsed.username || parsed.password) throw new ManifestError(`${field}.url`, "must not carry credentials (user:password@): the manifest is not secret");
  if (type !== "") out.type = type as SourceType;
  out.url = url;
  return out;
}

/** The `source` object in Go's field order: type, url, kbs_resource_path, encrypted. */
function sourceJSON(s: ResourceSource): string {
  const f: string[] = [];
  for (const k of ["type", "url", "kbs_resource_path"] as const) if (s[k]) f.push(`"${k}":${goJSONString(s[k]!)}`);
  if (s.encrypted) f.push(`"encrypted":true`);
  return `{${f.join(",")}}`;
}

/** `seal_results`: the results archive leaves the agent encrypted to every consumer (agent/seal.ts). */
function parseSealResults(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw new ManifestError("seal_results", `expected a boolean, got ${typeof v}`);
  return v;
}

// ── end of remote sources and sealed results ──

export interface ManifestAlgorithm {
  hash: Uint8Array;
  user_key: Uint8Array;
  source?: ResourceSource;
  /** Cocos v0.9+: how a fetched algorithm runs and its arguments (an upload carries its own in metadata). */
  algo_type?: string;
  algo_args?: string[];
  kbs?: KbsConfig;
}

export interface Manifest {
  id: string;
  name: string;
  description: string;
  datasets: ManifestDataset[];
  algorithm: ManifestAlgorithm;
  result_consumers: { user_key: Uint8Array }[];
  agent_config: AgentConfig;
  signatures?: SignaturePolicy;
  guest_output?: GuestOutputPolicy;
  seal_results?: boolean;
}

export class ManifestError extends Error {
  override name = "ManifestError";
  constructor(readonly field: string, message: string) {
    super(`manifest ${field}: ${message}`);
  }
}

export const HASH_LENGTH = 32;

/** A dataset filename must be one plain path segment. */
export function checkFilename(name: string): string | null {
  if (name.length === 0) return "empty filename";
  if (name.includes("/") || name.includes("\\")) return `filename ${JSON.stringify(name)} contains a path separator`;
  if (name === "." || name === "..") return `filename ${JSON.stringify(name)} is a directory reference`;
  if (name.includes("\0")) return "filename contains NUL";
  if (/[\x00-\x1f\x7f]/.test(name)) return `filename ${JSON.stringify(name)} contains a control character`;
  if (Buffer.byteLength(name) > 255) return "filename longer than 255 bytes";
  return null;
}

function parseHash(v: unknown, field: string): Uint8Array {
  if (v instanceof Uint8Array) {
    if (v.length !== HASH_LENGTH) throw new ManifestError(field, `expected ${HASH_LENGTH} bytes (SHA3-256), got ${v.length}`);
    return new Uint8Array(v);
  }
  if (!Array.isArray(v)) throw new ManifestError(field, `expected an array of ${HASH_LENGTH} integers, got ${v === undefined ? "nothing" : typeof v}`);
  if (v.length !== HASH_LENGTH) throw new ManifestError(field, `expected ${HASH_LENGTH} bytes (SHA3-256), got ${v.length}`);
  const out = new Uint8Array(HASH_LENGTH);
  v.forEach((n, i) => {
    if (!Number.isInteger(n) || n < 0 || n > 255) throw new ManifestError(`${field}[${i}]`, `expected an integer 0..255, got ${JSON.stringify(n)}`);
    out[i] = n;
  });
  return out;
}

function parseKey(v: unknown, field: string): Uint8Array {
  let der: Uint8Array;
  if (v instanceof Uint8Array) der = new Uint8Array(v);
  else if (typeof v === "string") {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new ManifestError(field, "expected standard base64 of a DER SubjectPublicKeyInfo");
    der = new Uint8Array(Buffer.from(v, "base64"));
  } else throw new ManifestError(field, `expected base64 DER public key, got ${v === undefined ? "nothing" : typeof v}`);
  if (der.length === 0) throw new ManifestError(field, "public key is empty");
  try {
    keyTypeOf(loadPublicKey(der));
  } catch (err) {
    const why = err instanceof KeyError ? err.message : String(err);
    throw new ManifestError(field, `not an accepted public key (RSA, ECDSA P-256, Ed25519 SPKI): ${why}`);
  }
  return der;
}

function str(v: unknown, field: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new ManifestError(field, `expected a string, got ${typeof v}`);
  return v;
}

function obj(v: unknown, field: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new ManifestError(field, `expected an object, got ${Array.isArray(v) ? "array" : typeof v}`);
  return v as Record<string, unknown>;
}

function arr(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ManifestError(field, `expected an array, got ${typeof v}`);
  return v;
}

/** `algo_type` and `algo_args` (Cocos v0.9+), only the set ones; which types run is the agent's to say. */
function parseAlgoRun(alg: Record<string, unknown>): Pick<ManifestAlgorithm, "algo_type" | "algo_args"> {
  const out: Pick<ManifestAlgorithm, "algo_type" | "algo_args"> = {};
  const type = str(alg.algo_type, "algorithm.algo_type");
  if (type !== "" && !/^[a-z0-9_-]{1,32}$/.test(type)) throw new ManifestError("algorithm.algo_type", `expected a type name such as "bin", "wasm", "python", "docker", got ${JSON.stringify(type.slice(0, 40))}`);
  if (type) out.algo_type = type;
  const args = arr(alg.algo_args, "algorithm.algo_args").map((a, i) => {
    if (typeof a !== "string") throw new ManifestError(`algorithm.algo_args[${i}]`, `expected a string, got ${typeof a}`);
    if (a.includes("\0")) throw new ManifestError(`algorithm.algo_args[${i}]`, "contains NUL (a process argument cannot)");
    return a;
  });
  if (args.length) out.algo_args = args;
  return out;
}

/** Parses the JSON form (or an object of it) and validates every field. */
export function parseManifest(json: string | object): Manifest {
  let raw: unknown;
  if (typeof json === "string") {
    try {
      raw = JSON.parse(json);
    } catch (err) {
      throw new ManifestError("(document)", `not valid JSON: ${(err as Error).message}`);
    }
  } else raw = json;
  const m = obj(raw, "(document)");
  const alg = obj(m.algorithm, "algorithm");
  const cfg = obj(m.agent_config, "agent_config");
  const datasets = arr(m.datasets, "datasets").map((d, i) => {
    const o = obj(d, `datasets[${i}]`);
    const filename = str(o.filename, `datasets[${i}].filename`);
    if (filename !== "") {
      const bad = checkFilename(filename);
      if (bad) throw new ManifestError(`datasets[${i}].filename`, bad);
    }
    const sealed = parseSealedFields(o, `datasets[${i}]`, true);
    if (sealed.source?.encrypted && !filename) throw new ManifestError(`datasets[${i}].filename`, "an encrypted dataset must declare its filename (the upload is matched to its key by name)");
    if (sealed.source?.url && !filename) throw new ManifestError(`datasets[${i}].filename`, "a dataset with a source url needs a filename");
    return { hash: parseHash(o.hash, `datasets[${i}].hash`), user_key: parseKey(o.user_key ?? o.userKey, `datasets[${i}].user_key`), filename, ...sealed };
  });
  const names = new Set<string>();
  datasets.forEach((d, i) => {
    if (d.filename === "") return;
    if (names.has(d.filename)) throw new ManifestError(`datasets[${i}].filename`, `duplicate filename ${JSON.stringify(d.filename)}`);
    names.add(d.filename);
  });
  const attested = cfg.attested_tls ?? false;
  if (typeof attested !== "boolean") throw new ManifestError("agent_config.attested_tls", `expected a boolean, got ${typeof attested}`);
  const sig = m.signatures;
  if (sig !== undefined && sig !== "" && sig !== "v1" && sig !== "v2" && sig !== "v2-only") {
    throw new ManifestError("signatures", `expected "v1", "v2" or "v2-only", got ${JSON.stringify(sig)}`);
  }
  const guestOutput = str(m.guest_output, "guest_output");
  if (guestOutput !== "" && !GUEST_OUTPUT_POLICIES.includes(guestOutput as GuestOutputPolicy)) {
    throw new ManifestError("guest_output", `expected ${GUEST_OUTPUT_POLICIES.map((p) => JSON.stringify(p)).join(", ")} or nothing, got ${JSON.stringify(guestOutput)}`);
  }
  const manifest: Manifest = {
    id: str(m.id, "id"),
    name: str(m.name, "name"),
    description: str(m.description, "description"),
    datasets,
    algorithm: { hash: parseHash(alg.hash, "algorithm.hash"), user_key: parseKey(alg.user_key ?? alg.userKey, "algorithm.user_key"), ...parseSealedFields(alg, "algorithm", false), ...parseAlgoRun(alg) },
    result_consumers: arr(m.result_consumers, "result_consumers").map((c, i) => ({
      user_key: parseKey(obj(c, `result_consumers[${i}]`).user_key ?? obj(c, `result_consumers[${i}]`).userKey, `result_consumers[${i}].user_key`),
    })),
    agent_config: {
      log_level: str(cfg.log_level, "agent_config.log_level"),
      host: str(cfg.host, "agent_config.host"),
      port: str(cfg.port, "agent_config.port"),
      cert_file: str(cfg.cert_file, "agent_config.cert_file"),
      key_file: str(cfg.server_key ?? cfg.key_file, "agent_config.server_key"),
      server_ca_file: str(cfg.server_ca_file, "agent_config.server_ca_file"),
      client_ca_file: str(cfg.client_ca_file, "agent_config.client_ca_file"),
      attested_tls: attested,
    },
  };
  if (sig) manifest.signatures = sig as SignaturePolicy;
  if (guestOutput) manifest.guest_output = guestOutput as GuestOutputPolicy;
  if (parseSealResults(m.seal_results)) manifest.seal_results = true;
  return manifest;
}

/** Go encoding/json string escaping: HTML-safe (<, >, & as \u00XX), U+2028/2029 escaped, \b \f short (Go ≥ 1.22). */
export function goJSONString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i]!;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
      out += "\\u" + c.toString(16).padStart(4, "0");
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += ch + s[i + 1];
        i++;
      } else out += "\\ufffd"; // Go replaces invalid UTF-8 with U+FFFD
    } else if (c >= 0xdc00 && c <= 0xdfff) out += "\\ufffd";
    else out += ch;
  }
  return out + '"';
}

function b64(b: Uint8Array): string {
  return Buffer.from(b).toString("base64");
}

/** Compact JSON in Go struct order with `omitempty` semantics; hashes as arrays of 32 integers. */
export function manifestToJSON(m: Manifest): string {
  const fields: string[] = [];
  const put = (k: string, v: string) => fields.push(`"${k}":${v}`);
  if (m.id) put("id", goJSONString(m.id));
  if (m.name) put("name", goJSONString(m.name));
  if (m.description) put("description", goJSONString(m.description));
  if (m.datasets.length > 0) {
    const ds = m.datasets.map((d) => {
      const f = [`"hash":[${Array.from(d.hash).join(",")}]`];
      if (d.user_key.length > 0) f.push(`"user_key":"${b64(d.user_key)}"`);
      if (d.filename) f.push(`"filename":${goJSONString(d.filename)}`);
      if (d.source) f.push(`"source":${sourceJSON(d.source)}`);
      if (d.decompress) f.push(`"decompress":true`);
      if (d.kbs) f.push(`"kbs":${kbsJSON(d.kbs)}`);
      return `{${f.join(",")}}`;
    });
    put("datasets", `[${ds.join(",")}]`);
  }
  const af = [`"hash":[${Array.from(m.algorithm.hash).join(",")}]`];
  if (m.algorithm.user_key.length > 0) af.push(`"user_key":"${b64(m.algorithm.user_key)}"`);
  if (m.algorithm.source) af.push(`"source":${sourceJSON(m.algorithm.source)}`); // Go order: source, algo_type, algo_args, kbs
  if (m.algorithm.algo_type) af.push(`"algo_type":${goJSONString(m.algorithm.algo_type)}`);
  if (m.algorithm.algo_args?.length) af.push(`"algo_args":[${m.algorithm.algo_args.map(goJSONString).join(",")}]`);
  if (m.algorithm.kbs) af.push(`"kbs":${kbsJSON(m.algorithm.kbs)}`);
  put("algorithm", `{${af.join(",")}}`);
  if (m.result_consumers.length > 0) {
    put("result_consumers", `[${m.result_consumers.map((c) => (c.user_key.length > 0 ? `{"user_key":"${b64(c.user_key)}"}` : "{}")).join(",")}]`);
  }
  const c = m.agent_config;
  const cf: string[] = [];
  const cs = (k: string, v: string | undefined) => {
    if (v) cf.push(`"${k}":${goJSONString(v)}`);
  };
  cs("log_level", c.log_level);
  cs("host", c.host);
  cs("port", c.port);
  cs("cert_file", c.cert_file);
  cs("server_key", c.key_file);
  cs("server_ca_file", c.server_ca_file);
  cs("client_ca_file", c.client_ca_file);
  if (c.attested_tls) cf.push(`"attested_tls":true`);
  put("agent_config", `{${cf.join(",")}}`);
  if (m.signatures) put("signatures", goJSONString(m.signatures));
  if (m.guest_output) put("guest_output", goJSONString(m.guest_output));
  if (m.seal_results) put("seal_results", "true");
  return `{${fields.join(",")}}`;
}

/** SHA3-256 of the canonical JSON: Cocos's `checksum --manifest` and the SEV-SNP HOST_DATA value. */
export function manifestHash(m: Manifest): Uint8Array {
  return sha3_256(manifestToJSON(m));
}

/** Cocos's proto `Source`. */
export interface RunReqSource {
  type?: string;
  url?: string;
  kbs_resource_path?: string;
  encrypted?: boolean;
}

function sourceFromRunReq(s: RunReqSource | null | undefined): ResourceSource | undefined {
  if (!s) return undefined;
  const out: ResourceSource = { type: (s.type ?? "") as SourceType, url: s.url ?? "" };
  if (s.kbs_resource_path) out.kbs_resource_path = s.kbs_resource_path;
  if (s.encrypted) out.encrypted = true;
  return out;
}

const sourceToRunReq = (s: ResourceSource | undefined) =>
  s ? { source: { type: s.type ?? "", url: s.url ?? "", kbs_resource_path: s.kbs_resource_path ?? "", encrypted: s.encrypted === true } } : {};

/** Cocos's proto `KBSConfig`: a present message is kept even when empty (Go writes `"kbs":{}` for it). */
export interface RunReqKbs {
  url?: string;
  enabled?: boolean;
}

const kbsFromRunReq = (k: RunReqKbs | null | undefined): KbsConfig | undefined => (k ? { ...(k.url ? { url: k.url } : {}), ...(k.enabled ? { enabled: true } : {}) } : undefined);
const kbsToRunReq = (k: KbsConfig | undefined) => (k ? { kbs: { url: k.url ?? "", enabled: k.enabled === true } } : {});

/** A ComputationRunReq as proto-loader/protobufjs objects carry it (keepCase names). */
export interface RunReqObject {
  id?: string;
  name?: string;
  description?: string;
  datasets?: { hash?: Uint8Array; userKey?: Uint8Array; filename?: string; source?: RunReqSource | null; decompress?: boolean; kbs?: RunReqKbs | null }[];
  algorithm?: { hash?: Uint8Array; userKey?: Uint8Array; source?: RunReqSource | null; algo_type?: string; algo_args?: string[]; kbs?: RunReqKbs | null } | null;
  result_consumers?: { userKey?: Uint8Array }[];
  agent_config?: {
    port?: string;
    host?: string;
    cert_file?: string;
    key_file?: string;
    client_ca_file?: string;
    server_ca_file?: string;
    log_level?: string;
    attested_tls?: boolean;
  } | null;
  /** Cocos v0.9's one broker for every encrypted resource (v0.10 moved it into each resource). */
  kbs?: RunReqKbs | null;
  signatures?: string;
  guest_output?: string;
  seal_results?: boolean;
}

/** Validates like parseManifest (wrong hash length or bad key → ManifestError). */
export function manifestFromRunReq(req: RunReqObject): Manifest {
  const cfg = req.agent_config ?? {};
  // v0.9: the request-wide broker serves each encrypted resource that names none itself.
  const kbsOf = (r: { source?: RunReqSource | null; kbs?: RunReqKbs | null }) => kbsFromRunReq(r.kbs ?? (r.source?.encrypted ? req.kbs : null));
  const alg = req.algorithm;
  return parseManifest({
    id: req.id ?? "",
    name: req.name ?? "",
    description: req.description ?? "",
    datasets: (req.datasets ?? []).map((d) => ({ hash: u8(d.hash), user_key: u8(d.userKey), filename: d.filename ?? "", source: sourceFromRunReq(d.source), decompress: d.decompress || undefined, kbs: kbsOf(d) })),
    algorithm: { hash: u8(alg?.hash), user_key: u8(alg?.userKey), source: sourceFromRunReq(alg?.source), algo_type: alg?.algo_type || undefined, algo_args: alg?.algo_args ?? [], kbs: alg ? kbsOf(alg) : undefined },
    result_consumers: (req.result_consumers ?? []).map((c) => ({ user_key: u8(c.userKey) })),
    agent_config: { ...cfg, server_key: cfg.key_file ?? "" },
    signatures: req.signatures || undefined,
    guest_output: req.guest_output || undefined,
    seal_results: req.seal_results || undefined,
  });
}

function u8(b: Uint8Array | undefined | null): Uint8Array {
  return b ? new Uint8Array(b) : new Uint8Array(0);
}

export function runReqFromManifest(m: Manifest): RunReqObject {
  const c = m.agent_config;
  const req: RunReqObject = {
    id: m.id,
    name: m.name,
    description: m.description,
    datasets: m.datasets.map((d) => ({ hash: Buffer.from(d.hash), userKey: Buffer.from(d.user_key), filename: d.filename, ...sourceToRunReq(d.source), ...(d.decompress ? { decompress: true } : {}), ...kbsToRunReq(d.kbs) })),
    algorithm: {
      hash: Buffer.from(m.algorithm.hash), userKey: Buffer.from(m.algorithm.user_key), ...sourceToRunReq(m.algorithm.source),
      ...(m.algorithm.algo_type ? { algo_type: m.algorithm.algo_type } : {}), ...(m.algorithm.algo_args?.length ? { algo_args: [...m.algorithm.algo_args] } : {}), ...kbsToRunReq(m.algorithm.kbs),
    },
    result_consumers: m.result_consumers.map((r) => ({ userKey: Buffer.from(r.user_key) })),
    agent_config: {
      port: c.port ?? "",
      host: c.host ?? "",
      cert_file: c.cert_file ?? "",
      key_file: c.key_file ?? "",
      client_ca_file: c.client_ca_file ?? "",
      server_ca_file: c.server_ca_file ?? "",
      log_level: c.log_level ?? "",
      attested_tls: c.attested_tls ?? false,
    },
  };
  if (m.signatures) req.signatures = m.signatures;
  if (m.guest_output) req.guest_output = m.guest_output;
  if (m.seal_results) req.seal_results = true;
  return req;
}
