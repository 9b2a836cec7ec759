// The agent's key-broker client (Trustee RCAR): auth → challenge, attest with evidence binding a
// fresh P-256 key, then the resource as a JWE wrapped to that key (ECDH-ES+A256KW, A256GCM). Every
// request has a timeout; unreachable brokers and 5xx answers are retried a bounded number of times,
// each retry reported; a refusal (4xx) or a malformed answer is final at once.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { flattenedDecrypt, type FlattenedJWE } from "jose";
import {
  KBS_JWE_ALG, KBS_JWE_ENC, KBS_PROTOCOL_VERSION, KBS_SESSION_COOKIE, kbsEvidence, teeName,
  type EcPublicJwk, type KbsAttestation, type KbsChallenge, type KbsRuntimeData,
} from "../attestation/kbs-binding.ts";
import type { EvidenceProvider } from "../attestation/providers/types.ts";
import { parseResourcePath } from "../protocol/manifest.ts";

export interface KbsClientOptions {
  provider: EvidenceProvider;
  /** Per HTTP request. */
  timeoutMs?: number;
  /** Whole key release attempts (auth → resource). */
  attempts?: number;
  backoffMs?: number;
  onRetry?: (info: { attempt: number; of: number; url: string; error: string }) => void;
}

/** `retryable`: the broker was unreachable, slow or failed (5xx); otherwise it answered definitively. */
export class KbsError extends Error {
  override name = "KbsError";
  constructor(message: string, readonly retryable: boolean, readonly status?: number) {
    super(message);
  }
}

const DEFAULTS = { timeoutMs: 10_000, attempts: 3, backoffMs: 250 };
/** Largest KBS answer read (a challenge, a token, a JWE of a key are a few KiB). */
const MAX_ANSWER_BYTES = 1 << 20;

export class KbsClient {
  private readonly o: Required<Omit<KbsClientOptions, "onRetry">> & Pick<KbsClientOptions, "onRetry">;

  constructor(o: KbsClientOptions) {
    this.o = { ...DEFAULTS, ...o };
  }

  /** The resource at `path` ("repository/type/tag") from the broker at `url`, after attestation. */
  async getResource(url: string, path: string): Promise<Uint8Array> {
    const parts = parseResourcePath(path);
    if (typeof parts === "string") throw new KbsError(`KBS resource path: ${parts}`, false);
    const base = url.replace(/\/+$/, "");
    let last: KbsError | undefined;
    for (let attempt = 1; attempt <= this.o.attempts; attempt++) {
      try {
        return await this.releaseOnce(base, parts.join("/"));
      } catch (err) {
        last = err instanceof KbsError ? err : new KbsError(`KBS ${base}: ${(err as Error).message}`, false);
        if (!last.retryable) throw last;
        if (attempt < this.o.attempts) {
          this.o.onRetry?.({ attempt, of: this.o.attempts, url: base, error: last.message });
          await Bun.sleep(this.o.backoffMs * attempt);
        }
      }
    }
    throw new KbsError(`${last!.message} (gave up after ${this.o.attempts} attempts)`, true, last!.status);
  }

  private async releaseOnce(base: string, path: string): Promise<Uint8Array> {
    const tee = teeName(this.o.provider.kind);
    const auth = await this.call(`${base}/kbs/v0/auth`, { method: "POST", body: JSON.stringify({ version: KBS_PROTOCOL_VERSION, tee, "extra-params": {} }) });
    const cookie = sessionCookie(auth.headers.get("set-cookie"));
    if (!cookie) throw new KbsError(`KBS auth: expected a ${KBS_SESSION_COOKIE} cookie, received none`, false);
    const challenge = (await json(auth, "auth")) as Partial<KbsChallenge>;
    if (typeof challenge.nonce !== "string" || challenge.nonce === "") throw new KbsError(`KBS auth: expected a challenge with a nonce, received ${JSON.stringify(challenge).slice(0, 120)}`, false);

    // A fresh key per release: the broker wraps the resource to it, and the evidence binds it.
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" }) as { x: string; y: string };
    const teePubkey: EcPublicJwk = { kty: "EC", crv: "P-256", alg: KBS_JWE_ALG, x: jwk.x, y: jwk.y };
    const runtime: KbsRuntimeData = { nonce: challenge.nonce, "tee-pubkey": teePubkey };
    const ev = await kbsEvidence(this.o.provider, runtime);
    const body: KbsAttestation = {
      "runtime-data": runtime,
      "tee-evidence": { primary_evidence: { format: "cocos-v1", kind: ev.kind, evidence: Buffer.from(ev.data).toString("base64") }, additional_evidence: "{}" },
    };
    const headers = { cookie: `${KBS_SESSION_COOKIE}=${cookie}` };
    await json(await this.call(`${base}/kbs/v0/attest`, { method: "POST", headers, body: JSON.stringify(body) }), "attest");
    const res = await this.call(`${base}/kbs/v0/resource/${path}`, { method: "GET", headers });
    return decryptResource((await json(res, "resource")) as FlattenedJWE, privateKey);
  }

  /** One HTTP request with a timeout; 4xx/5xx become KbsError with the broker's reason. */
  private async call(url: string, init: RequestInit): Promise<Response> {
    const step = new URL(url).pathname.split("/")[3] ?? url;
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers: { "content-type": "application/json", ...(init.headers as Record<string, string>) }, redirect: "error", signal: AbortSignal.timeout(this.o.timeoutMs) });
    } catch (err) {
      const e = err as Error;
      const why = e.name === "TimeoutError" ? `no answer within ${this.o.timeoutMs} ms` : `unreachable (${e.message})`;
      throw new KbsError(`KBS ${step} at ${new URL(url).origin}: ${why}`, true);
    }
    if (!res.ok) {
      const text = (await readCapped(res, step).catch(() => "")).slice(0, 300);
      throw new KbsError(`KBS ${step} refused: HTTP ${res.status}${text ? `: ${text}` : ""}`, res.status >= 500, res.status);
    }
    return res;
  }
}

function sessionCookie(header: string | null): string | undefined {
  const m = header?.match(new RegExp(`(?:^|[;,]\\s*)${KBS_SESSION_COOKIE}=([^;,\\s]+)`));
  return m?.[1];
}

/** The body as text, refusing (not buffering) more than MAX_ANSWER_BYTES. */
async function readCapped(res: Response, step: string): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  const parts: Uint8Array[] = [];
  let n = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    n += r.value.byteLength;
    if (n > MAX_ANSWER_BYTES) {
      await reader.cancel();
      throw new KbsError(`KBS ${step}: expected an answer of at most ${MAX_ANSWER_BYTES} bytes, received more`, false);
    }
    parts.push(r.value);
  }
  return Buffer.concat(parts).toString("utf8");
}

async function json(res: Response, step: string): Promise<unknown> {
  const text = await readCapped(res, step);
  try {
    return JSON.parse(text);
  } catch {
    throw new KbsError(`KBS ${step}: expected JSON, received ${JSON.stringify(text.slice(0, 80))}`, false);
  }
}

/** The resource bytes of a Trustee resource reply, which must be a JWE to our key with the pinned algorithms. */
export async function decryptResource(jwe: FlattenedJWE, key: KeyObject): Promise<Uint8Array> {
  try {
    const r = await flattenedDecrypt(jwe, key, { keyManagementAlgorithms: [KBS_JWE_ALG], contentEncryptionAlgorithms: [KBS_JWE_ENC] });
    return r.plaintext;
  } catch (err) {
    throw new KbsError(`KBS resource: expected a JWE (${KBS_JWE_ALG}, ${KBS_JWE_ENC}) to this enclave's key, received one that does not decrypt: ${(err as Error).message}`, false);
  }
}
