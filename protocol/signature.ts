// Role signatures. v1 is Cocos's (a signature over the constant role string; replayable). v2 binds the
// role to the RPC method, the computation, the agent (its TLS key: the audience), a timestamp and a
// nonce, and the agent remembers nonces. v2 is our own format; since the audience was added there is
// one v2 (strict): a v2 signature without the audience line does not verify.
import { randomBytes, sign, verify, type KeyObject } from "node:crypto";
import { sha3_256, toHex } from "./hash.ts";
import { keyTypeOf, loadPublicKey, publicKeyDer } from "./keys.ts";
import { isAudience, MD_SEALED_KEY, v2Message, type RequestBinding, type Role } from "./request-message.ts";

export { MD_SEALED_KEY, v2Message, type RequestBinding, type Role } from "./request-message.ts";
export const ROLES: readonly Role[] = ["algorithm-provider", "data-provider", "consumer"];

/** gRPC metadata keys. `user-id` and `signature` are Cocos's; the rest are v2's. */
export const MD_USER_ID = "user-id";
export const MD_SIGNATURE = "signature";
export const MD_SIG_VERSION = "signature-version";
export const MD_SIG_TIMESTAMP = "signature-timestamp";
export const MD_SIG_NONCE = "signature-nonce";
/** Optional base64 SPKI of the signer: lets the agent tell "not a declared party" from "bad signature". */
export const MD_USER_KEY = "user-key";
/**
 * Optional hint: the audience the client signed for. Never trusted (the agent verifies against its
 * own audience); it only lets the agent say "signed for another agent" instead of "bad signature".
 */
export const MD_SIG_AUDIENCE = "signature-audience";

export const DEFAULT_MAX_SKEW_MS = 5 * 60_000;

function signBytes(priv: KeyObject, msg: Uint8Array): Buffer {
  switch (keyTypeOf(priv)) {
    case "rsa":
      return sign("sha256", msg, priv); // PKCS#1 v1.5
    case "ecdsa":
      return sign("sha256", msg, { key: priv, dsaEncoding: "der" });
    case "ed25519":
      return sign(null, msg, priv);
  }
}

function verifyBytes(pub: KeyObject, msg: Uint8Array, sig: Uint8Array): boolean {
  try {
    switch (keyTypeOf(pub)) {
      case "rsa":
        return verify("sha256", msg, pub, sig);
      case "ecdsa":
        return verify("sha256", msg, { key: pub, dsaEncoding: "der" }, sig);
      case "ed25519":
        return verify(null, msg, pub, sig);
    }
  } catch {
    return false;
  }
}

function asKey(k: Uint8Array | KeyObject): KeyObject {
  return k instanceof Uint8Array ? loadPublicKey(k) : k;
}

/** v1: base64 signature over the role string, as the Go CLI sends it. */
export function signRole(priv: KeyObject, role: Role): string {
  return signBytes(priv, Buffer.from(role)).toString("base64");
}

export function verifyRole(pub: Uint8Array | KeyObject, role: Role, signatureB64: string): boolean {
  const sig = decodeB64(signatureB64);
  return sig !== null && verifyBytes(asKey(pub), Buffer.from(role), sig);
}

function decodeB64(s: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length === 0) return null;
  return Buffer.from(s, "base64");
}

/** Lowercase hex SHA3-256 of an agent's TLS SPKI DER; "" when the connection has no TLS key. */
export function audienceOf(spkiDer: Uint8Array | null | undefined): string {
  return spkiDer && spkiDer.byteLength > 0 ? toHex(sha3_256(spkiDer)) : "";
}

/** v2: metadata to attach to one call. Never reuse it: the agent refuses a nonce it has seen. */
export function signRequest(priv: KeyObject, b: RequestBinding, now: number = Date.now()): Record<string, string> {
  const nonce = randomBytes(16).toString("hex");
  return {
    [MD_USER_ID]: b.role,
    [MD_SIGNATURE]: signBytes(priv, v2Message(b, now, nonce)).toString("base64"),
    [MD_SIG_VERSION]: "2",
    [MD_SIG_TIMESTAMP]: String(now),
    [MD_SIG_NONCE]: nonce,
    [MD_USER_KEY]: Buffer.from(publicKeyDer(priv)).toString("base64"),
    ...(b.audience ? { [MD_SIG_AUDIENCE]: b.audience } : {}),
    ...(b.sealedKey !== undefined ? { [MD_SEALED_KEY]: b.sealedKey } : {}),
  };
}

/** The signer's public key from the `user-key` metadata, if present and parseable. */
export function claimedUserKey(md: MetadataLike): Uint8Array | null {
  const v = mdValues(md, MD_USER_KEY)[0];
  if (!v || !/^[A-Za-z0-9+/]+={0,2}$/.test(v)) return null;
  try {
    const der = new Uint8Array(Buffer.from(v, "base64"));
    loadPublicKey(der);
    return der;
  } catch {
    return null;
  }
}

function describeAudience(a: string): string {
  return a === "" ? "<none: no TLS>" : isAudience(a) ? a : JSON.stringify(a.slice(0, 80));
}

/** Remembers nonces until their timestamp leaves the skew window; bounded, fails closed when full. */
export class NonceWindow {
  private seen = new Map<string, number>();
  constructor(readonly maxEntries = 100_000) {}

  /** Records the nonce; false when it was already used (a replay) or the window is full. */
  claim(nonce: string, expiresAt: number, now: number): "ok" | "replay" | "full" {
    if (this.seen.size >= this.maxEntries) this.prune(now);
    const prev = this.seen.get(nonce);
    if (prev !== undefined && prev > now) return "replay";
    if (this.seen.size >= this.maxEntries) return "full";
    this.seen.set(nonce, expiresAt);
    return "ok";
  }

  prune(now: number): void {
    for (const [n, exp] of this.seen) if (exp <= now) this.seen.delete(n);
  }

  get size(): number {
    return this.seen.size;
  }
}

export type MetadataLike =
  | Record<string, string | string[] | Buffer | Buffer[] | undefined>
  | { get(key: string): unknown[] };

/** Every value of a metadata key, as strings, from grpc.Metadata or a plain header object. */
export function mdValues(md: MetadataLike, key: string): string[] {
  const raw: unknown = typeof (md as { get?: unknown }).get === "function" ? (md as { get(k: string): unknown[] }).get(key) : (md as Record<string, unknown>)[key];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return list.map((v) => (typeof v === "string" ? v : Buffer.isBuffer(v) ? v.toString() : String(v)));
}

export interface VerifyOptions extends RequestBinding {
  nonces: NonceWindow;
  now?: number;
  maxSkewMs?: number;
  /** Refuse v1 (constant-role) signatures. */
  requireV2?: boolean;
}

export type VerifyResult =
  | { ok: true; index: number; version: 1 | 2 }
  | { ok: false; reason: string };

/**
 * Checks the call's metadata against candidate keys (SPKI DER or KeyObjects) and returns the index of
 * the first key that verifies. A v2 nonce is claimed only after a signature verified, so garbage
 * requests cannot fill the window or burn a legitimate client's nonce.
 */
export function verifyRequest(md: MetadataLike, candidates: readonly (Uint8Array | KeyObject)[], o: VerifyOptions): VerifyResult {
  const sigs = mdValues(md, MD_SIGNATURE);
  if (sigs.length !== 1) return { ok: false, reason: `expected exactly one "signature" metadata value, got ${sigs.length}` };
  const sig = decodeB64(sigs[0]!);
  if (!sig) return { ok: false, reason: `"signature" metadata is not base64` };
  const version = mdValues(md, MD_SIG_VERSION)[0] ?? "1";
  const keys = candidates.map(asKey);
  if (version === "1") {
    if (o.requireV2) return { ok: false, reason: "the manifest requires v2 (replay-resistant) signatures; got a v1 role signature" };
    const msg = Buffer.from(o.role);
    const index = keys.findIndex((k) => verifyBytes(k, msg, sig));
    return index >= 0 ? { ok: true, index, version: 1 } : { ok: false, reason: `signature verification failed for role ${o.role}` };
  }
  if (version !== "2") return { ok: false, reason: `unknown signature-version ${JSON.stringify(version)}, expected 1 or 2` };
  const tsText = mdValues(md, MD_SIG_TIMESTAMP)[0] ?? "";
  const nonce = mdValues(md, MD_SIG_NONCE)[0] ?? "";
  if (!/^\d{1,16}$/.test(tsText)) return { ok: false, reason: `signature-timestamp must be milliseconds since the epoch, got ${JSON.stringify(tsText)}` };
  if (!/^[0-9a-f]{16,64}$/.test(nonce)) return { ok: false, reason: `signature-nonce must be 16–64 lowercase hex digits, got ${JSON.stringify(nonce)}` };
  const ts = Number(tsText);
  const now = o.now ?? Date.now();
  const skew = o.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  // Strict at the limit: the nonce window keeps a nonce until ts + skew, so a replay at exactly the
  // limit would find it gone.
  if (Math.abs(now - ts) >= skew) {
    return { ok: false, reason: `signature timestamp ${new Date(ts).toISOString()} is outside ±${skew} ms of the agent clock ${new Date(now).toISOString()}` };
  }
  const audience = o.audience ?? "";
  const hinted = mdValues(md, MD_SIG_AUDIENCE)[0];
  if (hinted !== undefined && hinted !== audience) {
    return { ok: false, reason: `signature audience mismatch: signed for the agent whose TLS key has SHA3-256 ${describeAudience(hinted)}, this agent's is ${describeAudience(audience)} (a signature captured by another agent is not accepted here)` };
  }
  const sealed = mdValues(md, MD_SEALED_KEY);
  if (sealed.length > 1) return { ok: false, reason: `expected at most one "${MD_SEALED_KEY}" metadata value, got ${sealed.length}` };
  const msg = v2Message({ ...o, audience, sealedKey: sealed[0] }, ts, nonce);
  const index = keys.findIndex((k) => verifyBytes(k, msg, sig));
  if (index < 0) return { ok: false, reason: `signature verification failed for role ${o.role} on ${o.method} (audience ${describeAudience(audience)})` };
  const claim = o.nonces.claim(nonce, ts + skew, now);
  if (claim === "replay") return { ok: false, reason: "signature nonce already used (replayed request)" };
  if (claim === "full") return { ok: false, reason: "too many recent signed requests; retry later" };
  return { ok: true, index, version: 2 };
}
