// Intel PCS collateral: TDX TCB info and TD_QE identity JSON, each signed (ECDSA P-256, r‖s hex)
// over the exact bytes of its inner object by the Intel SGX TCB Signing certificate.
import { fromHex } from "../encoding.ts";
import { check, type Steps } from "../crypto/backend.ts";

export interface TdxCollateral {
  /** Response body of /tdx/certification/v4/tcb (JSON text, unmodified). */
  tcbInfo?: string;
  /** Response body of /tdx/certification/v4/qe/identity. */
  qeIdentity?: string;
  /** TCB-Info-Issuer-Chain: TCB signing cert then root, PEM. */
  tcbSigningChain?: string;
}

/** The raw text of the value of top-level `key` (signatures cover these exact bytes). */
export function rawJsonMember(text: string, key: string): string | undefined {
  const m = text.indexOf(`"${key}"`);
  if (m < 0) return undefined;
  let i = text.indexOf("{", m);
  if (i < 0) return undefined;
  const start = i;
  let depth = 0;
  let inStr = false;
  for (; i < text.length; i++) {
    const ch = text[i];
    if (inStr) {
      if (ch === "\\") i++;
      else if (ch === '"') inStr = false;
    } else if (ch === '"') inStr = true;
    else if (ch === "{") depth++;
    else if (ch === "}" && --depth === 0) return text.slice(start, i + 1);
  }
  return undefined;
}

/** Checks a signed collateral document; the signature is verified by the backend running the steps. */
export function* verifySignedJson(text: string, key: string, signerSpki: Uint8Array): Steps<{ ok: boolean; body?: any; detail: string }> {
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { ok: false, detail: `not JSON: ${(e as Error).message}` };
  }
  const raw = rawJsonMember(text, key);
  if (!raw || !parsed?.[key] || typeof parsed.signature !== "string") return { ok: false, detail: `expected {"${key}": {...}, "signature": "<hex>"}` };
  let signature: Uint8Array | undefined;
  try {
    signature = fromHex(parsed.signature);
  } catch {}
  const op = signature && { alg: { name: "ECDSA", hash: "sha256", curve: "P-256" } as const, spki: signerSpki, signature, data: new TextEncoder().encode(raw) };
  const ok = yield* check(op);
  return { ok, body: parsed[key], detail: ok ? "signature OK" : `${key} signature does not verify with the TCB signing key` };
}
