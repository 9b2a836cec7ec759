// The upload page's steps, all in this browser: verify the agent's upload-key evidence (fresh nonce,
// the run's policy, the manifest hashed here), check the file against the manifest's SHA3-256,
// encrypt it (Cocos format: nonce 12 ‖ AES-256-GCM ciphertext ‖ tag) under a fresh key, wrap that key
// to the attested upload key (HPKE), sign the Data call (v2, covering the wrapped key) with the
// party's private key, and post the ciphertext. The console sees ciphertext, never the file or a key.
import { sha3_256 } from "@noble/hashes/sha3.js";
import { uploadInfo, uploadKeyReportData, wrapUploadKey } from "../../attestation/browser/upload-key.ts";
import { fromBase64, fromHex, toBase64, toHex } from "../../attestation/encoding.ts";
import { MD_SEALED_KEY, v2Message } from "../../protocol/request-message.ts";
import { ApiError, api } from "./api.ts";
import { freshNonce, manifestHashOf, verifyRelayed, type Outcome, type Relayed } from "./attest.ts";

export const METHOD_DATA = "/agent.AgentService/Data";

export interface UploadKeyRelayed extends Relayed {
  computation_id: string;
  manifest_json: string;
  upload_public_key_base64: string;
  tls_spki_sha3_256: string;
}

export interface AttestedUploadKey {
  outcome: Outcome;
  publicKey: Uint8Array;
  /** The v2 audience: hex SHA3-256 of the agent's TLS SPKI, bound by the same evidence. */
  audience: string;
  manifest: { id: string; datasets: { hash: number[]; user_key?: string; filename?: string }[] };
}

/** Fresh upload-key evidence for this run, verified here; throws with the failed check when it does not verify. */
export async function attestUploadKey(runId: string): Promise<AttestedUploadKey> {
  const nonce = freshNonce();
  const relayed = await api<UploadKeyRelayed>("POST", `/api/runs/${encodeURIComponent(runId)}/upload-key`, { nonce: toHex(nonce) });
  const publicKey = fromBase64(relayed.upload_public_key_base64);
  const audience = relayed.tls_spki_sha3_256;
  if (!/^(?:[0-9a-f]{64})?$/.test(audience)) throw new Error(`the relayed TLS SPKI hash is not 64 hex digits: ${JSON.stringify(audience.slice(0, 80))}`);
  let expected: Uint8Array;
  try {
    expected = uploadKeyReportData(nonce, publicKey, fromHex(audience));
  } catch (e) {
    throw new Error(`the relayed upload key is unusable: ${(e as Error).message}`);
  }
  const outcome = await verifyRelayed(relayed, nonce, manifestHashOf(relayed.manifest_json), expected);
  if (!outcome.ok) {
    const failed = [...outcome.verdict.checks, outcome.hostData].filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail ?? ""}`);
    throw new Error(`the agent's upload-key evidence did not verify in this browser, nothing was sent: ${failed.join("; ") || outcome.verdict.reason}`);
  }
  return { outcome, publicKey, audience, manifest: JSON.parse(relayed.manifest_json) };
}

/** SHA3-256 of a file, read piece by piece. */
export async function fileSha3(file: Blob): Promise<string> {
  const h = sha3_256.create();
  const reader = file.stream().getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) h.update(r.value);
  return toHex(h.digest());
}

/** The manifest entry this file is, by name and SHA3-256; a clear error when it is not. */
export function manifestEntry(m: AttestedUploadKey["manifest"], filename: string, sha3: string, spkiB64: string) {
  const named = m.datasets.filter((d) => (d.filename ?? "") === filename);
  if (named.length === 0) throw new Error(`${filename} is not a dataset of this manifest: expected one of ${m.datasets.map((d) => d.filename || "(unnamed)").join(", ")}`);
  const entry = named.find((d) => toHex(Uint8Array.from(d.hash)) === sha3);
  if (!entry) throw new Error(`${filename} does not match the manifest: expected SHA3-256 ${named.map((d) => toHex(Uint8Array.from(d.hash))).join(" or ")}, the file has ${sha3}`);
  if (entry.user_key && entry.user_key !== spkiB64) throw new Error(`${filename} is declared for another data provider's key than the private key given`);
  return entry;
}

// ---------------------------------------------------------------- the party's key (WebCrypto)

type KeyKind = "ed25519" | "ecdsa" | "rsa";

function der(tag: number, body: Uint8Array): Uint8Array {
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Uint8Array.from([tag, ...len, ...body]);
}
const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
const OID_EC = fromHex("06072a8648ce3d0201"), OID_P256 = fromHex("06082a8648ce3d030107"), OID_RSA = fromHex("06092a864886f70d010101"), OID_ED = fromHex("06032b6570");

const has = (hay: Uint8Array, needle: Uint8Array) => {
  outer: for (let i = 0; i + needle.length <= Math.min(hay.length, 64); i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
};

/**
 * A PEM private key as PKCS#8 and its kind: PKCS#8 as is, and what `cocos-cli keys` writes (SEC1
 * `EC PRIVATE KEY`, PKCS#1 RSA under either label) wrapped into PKCS#8 for WebCrypto.
 */
export function pkcs8Of(pem: string): { pkcs8: Uint8Array; kind: KeyKind } {
  const m = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (!m) throw new Error("expected a PEM private key (-----BEGIN PRIVATE KEY-----), found none");
  const body = fromBase64(m[2]!.replace(/\s+/g, ""));
  const version0 = fromHex("020100");
  if (m[1] === "EC PRIVATE KEY") return { kind: "ecdsa", pkcs8: der(0x30, concat(version0, der(0x30, concat(OID_EC, OID_P256)), der(0x04, body))) };
  // PKCS#1 (RSAPrivateKey: version then INTEGER modulus) vs PKCS#8 (version then the algorithm SEQUENCE).
  const pkcs1 = m[1] === "RSA PRIVATE KEY" || (m[1] === "PRIVATE KEY" && body[0] === 0x30 && !has(body, OID_RSA) && !has(body, OID_EC) && !has(body, OID_ED));
  if (pkcs1) return { kind: "rsa", pkcs8: der(0x30, concat(version0, der(0x30, concat(OID_RSA, fromHex("0500"))), der(0x04, body))) };
  if (m[1] !== "PRIVATE KEY") throw new Error(`unsupported PEM label ${m[1]}: expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY`);
  if (has(body, OID_ED)) return { kind: "ed25519", pkcs8: body };
  if (has(body, OID_EC)) return { kind: "ecdsa", pkcs8: body };
  if (has(body, OID_RSA)) return { kind: "rsa", pkcs8: body };
  throw new Error("unsupported private key: expected Ed25519, ECDSA P-256 or RSA");
}

const ALGS: Record<KeyKind, { import: AlgorithmIdentifier | EcKeyImportParams | RsaHashedImportParams; sign: AlgorithmIdentifier | EcdsaParams }> = {
  ed25519: { import: { name: "Ed25519" }, sign: { name: "Ed25519" } },
  ecdsa: { import: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } },
  rsa: { import: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, sign: { name: "RSASSA-PKCS1-v1_5" } },
};

export interface PartyKey {
  kind: KeyKind;
  key: CryptoKey;
  /** base64 SPKI DER of the public half (the manifest's user_key). */
  spkiB64: string;
}

/** Imports the party's private key (never sent anywhere) and derives its public SPKI. */
export async function importPartyKey(pem: string): Promise<PartyKey> {
  const { pkcs8, kind } = pkcs8Of(pem);
  const a = ALGS[kind];
  const key = await crypto.subtle.importKey("pkcs8", pkcs8.slice().buffer as ArrayBuffer, a.import, true, ["sign"]);
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = await crypto.subtle.exportKey("jwk", key);
  const pubKey = await crypto.subtle.importKey("jwk", { ...pub, key_ops: ["verify"] }, a.import, true, ["verify"]);
  return { kind, key, spkiB64: toBase64(new Uint8Array(await crypto.subtle.exportKey("spki", pubKey))) };
}

/** An ECDSA signature as the agent reads it (DER), from WebCrypto's r ‖ s. */
function p1363ToDer(sig: Uint8Array): Uint8Array {
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = b.subarray(i);
    return der(0x02, v[0]! & 0x80 ? concat(Uint8Array.of(0), v) : v);
  };
  return der(0x30, concat(int(sig.subarray(0, sig.length / 2)), int(sig.subarray(sig.length / 2))));
}

/** v2 request metadata for the Data call, covering the wrapped key (protocol/request-message.ts). */
export async function signDataCall(k: PartyKey, computationId: string, audience: string, sealedKey: string): Promise<Record<string, string>> {
  const nonce = toHex(crypto.getRandomValues(new Uint8Array(16)));
  const now = Date.now();
  const msg = v2Message({ role: "data-provider", method: METHOD_DATA, computationId, audience, sealedKey }, now, nonce);
  let sig: Uint8Array = new Uint8Array(await crypto.subtle.sign(ALGS[k.kind].sign, k.key, msg.slice().buffer as ArrayBuffer));
  if (k.kind === "ecdsa") sig = p1363ToDer(sig);
  return {
    "user-id": "data-provider", signature: toBase64(sig), "signature-version": "2", "signature-timestamp": String(now), "signature-nonce": nonce,
    "user-key": k.spkiB64, ...(audience ? { "signature-audience": audience } : {}), [MD_SEALED_KEY]: sealedKey,
  };
}

/** Cocos's sealed-file format under a fresh key: nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16). */
export async function sealFile(plain: ArrayBuffer): Promise<{ key: Uint8Array; sealed: Uint8Array<ArrayBuffer> }> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const k = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, k, plain));
  const sealed = new Uint8Array(12 + ct.length);
  sealed.set(iv);
  sealed.set(ct, 12);
  return { key, sealed };
}

export interface UploadDone {
  sha3: string;
  ciphertextBytes: number;
  outcome: Outcome;
}

/** The whole flow for one file; `step` reports progress to the page. */
export async function sealedDatasetUpload(runId: string, file: File, keyPem: string, step: (s: string) => void = () => {}): Promise<UploadDone> {
  step("Importing your private key (it stays in this browser)…");
  const party = await importPartyKey(keyPem);
  step("Verifying the agent's upload-key evidence in this browser…");
  const attested = await attestUploadKey(runId);
  step("Hashing the file (SHA3-256)…");
  const sha3 = await fileSha3(file);
  manifestEntry(attested.manifest, file.name, sha3, party.spkiB64);
  step("Encrypting to the attested upload key…");
  const { key, sealed } = await sealFile(await file.arrayBuffer());
  const wrapped = await wrapUploadKey(attested.publicKey, key, uploadInfo(attested.manifest.id, "data-provider", file.name));
  key.fill(0);
  const md = await signDataCall(party, attested.manifest.id, attested.audience, toBase64(wrapped));
  step("Sending the ciphertext through the console…");
  const headers: Record<string, string> = { "x-cocos-csrf": "1", "content-type": "application/octet-stream" };
  for (const [k, v] of Object.entries(md)) headers[`cocos-md-${k}`] = v;
  const r = await fetch(`/api/runs/${encodeURIComponent(runId)}/uploads/dataset?filename=${encodeURIComponent(file.name)}`, { method: "POST", headers, credentials: "same-origin", body: new Blob([sealed.buffer as ArrayBuffer]) });
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, data?.error?.code ?? "http_error", data?.error?.message ?? `HTTP ${r.status}`);
  return { sha3, ciphertextBytes: sealed.length, outcome: attested.outcome };
}
