// The bytes a v2 request signature covers, without a server runtime: the agent verifies them
// (signature.ts) and the console's upload page signs them with WebCrypto, from this one definition.
import { sha3_256 } from "@noble/hashes/sha3.js";

/** Metadata of a sealed upload: base64(HPKE enc ‖ sealed AES key); a v2 signature covers it when present. */
export const MD_SEALED_KEY = "cocos-sealed-key";

export type Role = "algorithm-provider" | "data-provider" | "consumer";

export interface RequestBinding {
  role: Role;
  /** Full gRPC method, e.g. `/agent.AgentService/Data`. */
  method: string;
  computationId: string;
  /**
   * The agent the call is meant for: `audienceOf(its TLS SubjectPublicKeyInfo DER)`, or "" on a
   * connection without TLS (there is no agent identity to bind). Default "".
   */
  audience?: string;
  /**
   * The call's `cocos-sealed-key` metadata value, if any. Signed, so a relay cannot swap the
   * wrapped key for one of its own (and so the ciphertext for one it made).
   */
  sealedKey?: string;
}

const AUDIENCE_RE = /^(?:[0-9a-f]{64})?$/;
export const isAudience = (a: string) => AUDIENCE_RE.test(a);

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * The exact bytes a v2 signature covers; newline-separated, so no field can bleed into another.
 * A sealed upload adds an eighth line (the SHA3-256 of its sealed-key value): a message with it can
 * never equal one without, and an unsealed call's bytes are what they always were.
 */
export function v2Message(b: RequestBinding, timestampMs: number, nonce: string): Uint8Array {
  for (const [k, v] of Object.entries({ method: b.method, computationId: b.computationId, nonce })) {
    if (v.includes("\n")) throw new Error(`${k} must not contain a newline`);
  }
  const audience = b.audience ?? "";
  if (!isAudience(audience)) throw new Error(`audience must be 64 lowercase hex digits or empty, got ${JSON.stringify(audience)}`);
  const lines = ["cocos-request-v2", b.role, b.method, b.computationId, String(timestampMs), nonce, audience];
  if (b.sealedKey !== undefined) lines.push(`sealed-key:${hex(sha3_256(new TextEncoder().encode(b.sealedKey)))}`);
  return new TextEncoder().encode(lines.join("\n"));
}
