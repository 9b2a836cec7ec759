// The attestation-policy JSON of Cocos (`policy` = go-sev-guest check.Config, `root_of_trust`,
// `pcr_values`), plus our `tdx` section and the sim-root pin. Byte fields are base64 in files (as
// protojson writes them); hex is accepted on input. Keys may be snake_case or lowerCamelCase.
// Browser-safe (the in-browser verifier parses policies with it); file I/O and the manifest binding
// are in policy.ts.
import { decodeFixed, equal, toBase64, toHex } from "./encoding.ts";
import type { CheckList } from "./verdict.ts";

export interface SnpPolicyJson {
  policy?: number | string; // most permissive acceptable guest policy (u64)
  family_id?: string;
  image_id?: string;
  vmpl?: number;
  minimum_tcb?: number | string;
  minimum_launch_tcb?: number | string;
  require_author_key?: boolean;
  measurement?: string;
  host_data?: string;
  report_data?: string;
  report_id?: string;
  report_id_ma?: string;
  chip_id?: string;
  minimum_build?: number;
  minimum_version?: string;
  minimum_guest_svn?: number;
  permit_provisional_firmware?: boolean;
  require_id_block?: boolean;
  trusted_author_key_hashes?: string[];
  trusted_id_key_hashes?: string[];
  product?: { name?: number | string };
  [k: string]: unknown;
}

export interface RootOfTrustJson {
  product?: string; // Milan | Genoa | Turin | SIM
  product_line?: string;
  check_crl?: boolean;
  disallow_network?: boolean;
  /**
   * Refuse SEV-SNP evidence from AMD EPYC Milan parts, whose attestation reports can be forged in
   * software (arXiv 2605.12990, May 2026). Unset or false: Milan evidence passes, flagged as forgeable.
   */
  disallow_milan?: boolean;
  /** For product "SIM": SHA-256 (hex) of the sim ARK certificate DER, and/or its PEM. */
  sim_ark_sha256?: string;
  sim_ark_pem?: string;
  [k: string]: unknown;
}

export interface TdxPolicyJson {
  mr_td?: string;
  rtmr0?: string;
  rtmr1?: string;
  rtmr2?: string;
  rtmr3?: string;
  mr_config_id?: string;
  mr_owner?: string;
  mr_owner_config?: string;
  mr_seam?: string;
  report_data?: string;
  xfam?: string; // hex u64 (8 bytes, as in the quote)
  td_attributes?: string; // hex 8 bytes, exact match when given
  allow_debug?: boolean;
  minimum_tee_tcb_svn?: string; // hex 16 bytes, component-wise minimum
  accepted_tcb_statuses?: string[];
  fmspc?: string;
  [k: string]: unknown;
}

export interface AttestationPolicy {
  pcr_values?: Record<string, Record<string, string>>;
  policy?: SnpPolicyJson;
  root_of_trust?: RootOfTrustJson;
  tdx?: TdxPolicyJson;
  [k: string]: unknown;
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());

function normalizeKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalizeKeys);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const nk = snake(k);
      out[nk] = nk === "pcr_values" ? x : normalizeKeys(x); // PCR maps keep their keys
    }
    return out;
  }
  return v;
}

export function parsePolicy(text: string): AttestationPolicy {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`attestation policy: expected JSON, got a parse error: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new Error(`attestation policy: expected a JSON object, got ${Array.isArray(raw) ? "an array" : typeof raw}`);
  return normalizeKeys(raw) as AttestationPolicy;
}

export function formatPolicy(p: AttestationPolicy): string {
  return JSON.stringify(p, null, 2) + "\n";
}

function setSnpBytes(p: AttestationPolicy, field: keyof SnpPolicyJson, value: string | Uint8Array, len: number): AttestationPolicy {
  const bytes = typeof value === "string" ? decodeFixed(value, len, String(field)) : value;
  if (bytes.length !== len) throw new Error(`${String(field)}: expected ${len} bytes, got ${bytes.length}`);
  return { ...p, policy: { ...(p.policy ?? {}), [field]: toBase64(bytes) } };
}

/** `cocos-cli policy measurement`: 48 bytes, hex or base64. */
export const setMeasurement = (p: AttestationPolicy, v: string | Uint8Array) => setSnpBytes(p, "measurement", v, 48);
/** `cocos-cli policy hostdata`: 32 bytes (the manifest hash), hex or base64. */
export const setHostData = (p: AttestationPolicy, v: string | Uint8Array) => setSnpBytes(p, "host_data", v, 32);
export const setReportData = (p: AttestationPolicy, v: string | Uint8Array) => setSnpBytes(p, "report_data", v, 64);
export const setChipId = (p: AttestationPolicy, v: string | Uint8Array) => setSnpBytes(p, "chip_id", v, 64);

export function setProduct(p: AttestationPolicy, product: string): AttestationPolicy {
  return { ...p, root_of_trust: { ...(p.root_of_trust ?? {}), product, product_line: product } };
}

export function setTdx(p: AttestationPolicy, field: keyof TdxPolicyJson, hex: string): AttestationPolicy {
  return { ...p, tdx: { ...(p.tdx ?? {}), [field]: hex } };
}

/** Pins the sim root so a verifier accepts evidence from the `sim` provider (and labels it SIMULATED). */
export function trustSimRoot(p: AttestationPolicy, arkSha256Hex: string, arkPem?: string): AttestationPolicy {
  return { ...p, root_of_trust: { ...(p.root_of_trust ?? {}), product: "SIM", product_line: "SIM", sim_ark_sha256: arkSha256Hex, ...(arkPem ? { sim_ark_pem: arkPem } : {}) } };
}

// ---------------------------------------------------------------- typed accessors for verifiers

export class PolicyError extends Error {}

/** Field bytes or undefined when unset; throws PolicyError when malformed. */
export function policyBytes(v: unknown, len: number, what: string): Uint8Array | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new PolicyError(`${what}: expected a base64 or hex string, got ${typeof v}`);
  try {
    return decodeFixed(v, len, what);
  } catch (e) {
    throw new PolicyError((e as Error).message);
  }
}

export function policyU64(v: unknown, what: string): bigint | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  try {
    if (typeof v === "number" || typeof v === "bigint") return BigInt(v);
    if (typeof v === "string") return BigInt(v.trim());
  } catch {}
  throw new PolicyError(`${what}: expected an unsigned 64-bit integer, got ${JSON.stringify(v)}`);
}

export function policyHashList(v: unknown, what: string): Uint8Array[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new PolicyError(`${what}: expected a list`);
  return v.map((x, i) => policyBytes(x, 48, `${what}[${i}]`)!);
}

/** A check for byte fields that must equal the policy's value when the policy sets one (`section.field` in errors). */
export function exactFieldCheck(c: CheckList, section: string) {
  return (code: string, actual: Uint8Array, v: unknown, len: number, field: string) => {
    const want = policyBytes(v, len, `${section}.${field}`);
    if (want) c.add(code, equal(actual, want), { expected: toHex(want), actual: toHex(actual), detail: `${field} differs from the policy` });
  };
}

/** The report_data check both TEEs make: the caller's expected bytes (a nonce or key binding) win over the policy's. */
export function checkReportData(c: CheckList, code: string, actual: Uint8Array, expected: Uint8Array | undefined, policyValue: unknown, field: string) {
  const want = expected ?? policyBytes(policyValue, 64, field);
  if (want)
    c.add(code, equal(actual, want), {
      expected: toHex(want),
      actual: toHex(actual),
      detail: "report_data does not carry the expected nonce/binding (replay or another key)",
    });
}
