// The crypto a verifier needs, behind one interface so the checks are written once: node:crypto
// on the server (crypto/node.ts, synchronous), WebCrypto + @noble/hashes in a browser
// (crypto/webcrypto.ts, asynchronous). Verifier bodies are generators that yield each signature
// check as a VerifyOp and receive the boolean back; runSync/runAsync drive them with a backend.
import { concatBytes, toHex } from "../encoding.ts";

export type HashName = "sha1" | "sha256" | "sha384" | "sha512";
export type NamedCurve = "P-256" | "P-384" | "P-521";

export type SigAlg =
  | { name: "RSA-PSS"; hash: HashName; saltLength: number }
  | { name: "RSASSA-PKCS1-v1_5"; hash: HashName }
  /** Signature is IEEE P1363 (r ‖ s, each the curve's size, big-endian), what WebCrypto takes. */
  | { name: "ECDSA"; hash: HashName; curve: NamedCurve };

export interface VerifyOp {
  alg: SigAlg;
  /** SubjectPublicKeyInfo DER of the signer. */
  spki: Uint8Array;
  signature: Uint8Array;
  data: Uint8Array;
  /** Deterministic and repeated for every report (AMD/Intel chains): the runner may memoize it. */
  memo?: boolean;
}

export type DigestName = "sha256" | "sha384" | "sha3-256" | "sha3-512";

export interface CryptoBackend {
  readonly name: string;
  /** false for a wrong signature, an unusable key or an unsupported algorithm; never throws. */
  verify(op: VerifyOp): boolean | Promise<boolean>;
  digest(alg: DigestName, data: Uint8Array): Uint8Array;
}

/** A verifier body: yields signature checks, gets their results, returns T. */
export type Steps<T> = Generator<VerifyOp, T, boolean>;

/** One signature check inside a verifier body: `const ok = yield* check(op)`. */
export function* check(op: VerifyOp | undefined): Steps<boolean> {
  if (!op) return false;
  return yield op;
}

// Memo of deterministic results, per backend (a result of one must never answer for the other).
const memo = new Map<string, boolean>();
const MEMO_MAX = 512;

/** Drops memoized signature results (benchmarks measuring cold verification). */
export const clearSignatureMemo = () => memo.clear();

/** The memo slot of an op (undefined key: not memoizable) and its remembered result, if any. */
function lookup(b: CryptoBackend, op: VerifyOp): { key?: string; ok?: boolean } {
  if (!op.memo) return {};
  const key = `${b.name}|${JSON.stringify(op.alg)}|${toHex(b.digest("sha256", concatBytes(op.spki, op.signature, op.data)))}`;
  return { key, ok: memo.get(key) };
}

function remember(key: string | undefined, ok: boolean): boolean {
  if (key === undefined) return ok;
  if (memo.size >= MEMO_MAX) memo.delete(memo.keys().next().value!);
  memo.set(key, ok);
  return ok;
}

/** Runs a verifier body with a synchronous backend (node:crypto). */
export function runSync<T>(steps: Steps<T>, b: CryptoBackend): T {
  let r = steps.next();
  while (!r.done) {
    const { key, ok } = lookup(b, r.value);
    if (ok !== undefined) {
      r = steps.next(ok);
      continue;
    }
    const v = b.verify(r.value);
    if (typeof v !== "boolean") throw new Error(`crypto backend ${b.name} is asynchronous: use runAsync`);
    r = steps.next(remember(key, v));
  }
  return r.value;
}

/** Runs a verifier body with any backend (WebCrypto is asynchronous). */
export async function runAsync<T>(steps: Steps<T>, b: CryptoBackend): Promise<T> {
  let r = steps.next();
  while (!r.done) {
    const { key, ok } = lookup(b, r.value);
    r = steps.next(ok ?? remember(key, await b.verify(r.value)));
  }
  return r.value;
}
