// The enclave's upload key, one definition for the agent (node) and the console's upload page
// (browser): its HPKE suite, the report data that binds it into evidence, and how a content key is
// wrapped to it. No node:* here: it is in the page bundle.
//
//   report_data = labelled digest "cocos-upload-key-v1" of (caller nonce, upload public key, SHA3-256 of the agent's TLS SPKI)
//
// So a party that verified the evidence learns both the key to encrypt to and the v2 signature
// audience, for its own nonce. The wrapped key's HPKE info names the computation, the role and the
// input's name, so a sealed key opens only for the upload it was made for.
import { Aes256Gcm, CipherSuite, DhkemP256HkdfSha256, HkdfSha256 } from "@hpke/core";
import { reportData } from "./report-data.ts";

/** RFC 9180 base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM: all of it WebCrypto in Chromium. */
export const uploadSuite = () => new CipherSuite({ kem: new DhkemP256HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });

/** An uncompressed P-256 point (0x04 ‖ X ‖ Y), the KEM's serialised public key. */
export const UPLOAD_PUBLIC_KEY_BYTES = 65;
/** enc (65) ‖ AES-256 key (32) + GCM tag (16). */
export const SEALED_KEY_BYTES = UPLOAD_PUBLIC_KEY_BYTES + 32 + 16;
/** The Attestation RPC's request metadata that asks for upload-key evidence instead of the RPC's own. */
export const MD_REPORT_PURPOSE = "cocos-report-purpose";
export const PURPOSE_UPLOAD_KEY = "upload-key";
/** Response metadata of such a call: the key (base64) and the SPKI hash it is bound with (hex, "" without TLS). */
export const MD_UPLOAD_KEY = "cocos-upload-key";
export const MD_TLS_SPKI_SHA3 = "cocos-tls-spki-sha3-256";

export type UploadRole = "algorithm-provider" | "data-provider";

export class UploadKeyError extends Error {
  override name = "UploadKeyError";
}

/** Report data of upload-key evidence (the nonce zero-padded to 64 bytes, as the RPC's). */
export function uploadKeyReportData(nonce: Uint8Array, publicKey: Uint8Array, tlsSpkiSha3: Uint8Array): Uint8Array {
  if (nonce.byteLength > 64) throw new UploadKeyError(`nonce: expected at most 64 bytes, got ${nonce.byteLength}`);
  if (publicKey.byteLength !== UPLOAD_PUBLIC_KEY_BYTES || publicKey[0] !== 4) throw new UploadKeyError(`upload public key: expected an uncompressed P-256 point (${UPLOAD_PUBLIC_KEY_BYTES} bytes, 0x04 first), got ${publicKey.byteLength} bytes`);
  if (tlsSpkiSha3.byteLength !== 0 && tlsSpkiSha3.byteLength !== 32) throw new UploadKeyError(`TLS SPKI hash: expected 32 bytes (or none without TLS), got ${tlsSpkiSha3.byteLength}`);
  const padded = new Uint8Array(64);
  padded.set(nonce);
  return reportData("upload-key", padded, publicKey, tlsSpkiSha3);
}

/** HPKE info: which computation and which input the wrapped key is for; newline-free fields. */
export function uploadInfo(computationId: string, role: UploadRole, name: string): Uint8Array {
  for (const [k, v] of Object.entries({ computationId, name })) if (/[\n\0]/.test(v)) throw new UploadKeyError(`${k} must not contain a newline or NUL`);
  return new TextEncoder().encode(["cocos-upload-v1", computationId, role, name].join("\n"));
}

const ab = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;

/** Wraps a 32-byte content key to the upload key: enc ‖ ct. */
export async function wrapUploadKey(publicKey: Uint8Array, contentKey: Uint8Array, info: Uint8Array): Promise<Uint8Array> {
  if (contentKey.byteLength !== 32) throw new UploadKeyError(`content key: expected 32 bytes, got ${contentKey.byteLength}`);
  const s = uploadSuite();
  const recipientPublicKey = await s.kem.deserializePublicKey(ab(publicKey));
  const { enc, ct } = await s.seal({ recipientPublicKey, info: ab(info) }, ab(contentKey));
  const out = new Uint8Array(enc.byteLength + ct.byteLength);
  out.set(new Uint8Array(enc));
  out.set(new Uint8Array(ct), enc.byteLength);
  return out;
}

/** Opens a wrapped content key; UploadKeyError when it was made for another key, computation or input, or altered. */
export async function unwrapUploadKey(privateKey: CryptoKey, sealed: Uint8Array, info: Uint8Array): Promise<Uint8Array> {
  if (sealed.byteLength !== SEALED_KEY_BYTES) throw new UploadKeyError(`sealed key: expected ${SEALED_KEY_BYTES} bytes (HPKE enc 65 ‖ wrapped AES-256 key 48), got ${sealed.byteLength}`);
  try {
    const pt = await uploadSuite().open({ recipientKey: privateKey, enc: ab(sealed.subarray(0, UPLOAD_PUBLIC_KEY_BYTES)), info: ab(info) }, ab(sealed.subarray(UPLOAD_PUBLIC_KEY_BYTES)));
    return new Uint8Array(pt);
  } catch {
    throw new UploadKeyError("the sealed key does not open with this agent's upload key for this computation and input (made for another agent boot, computation or input, or altered on the way)");
  }
}
