// Sealed results: an archive encrypted to a set of public keys, readable by their holders only.
//
//   MAGIC(8) ‖ u32be header length ‖ header (JSON) ‖ AES-256-GCM(content key, iv; AAD = all before) ‖ tag(16)
//
// The header lists one recipient per consumer: `kid` (hex SHA-256 of the consumer's SPKI DER, the
// manifest's user_key) and the 32-byte content key wrapped for it:
//   - RSA keys: RSA-OAEP with SHA-256 (`RSA-OAEP-256`);
//   - ECDSA P-256 keys: HPKE (RFC 9180) base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM;
//   - Ed25519 keys: the same HPKE with DHKEM(X25519), to the X25519 key the Ed25519 key maps to
//     (RFC 7748's birational map; the private scalar is the Ed25519 one). This is how age encrypts to
//     ssh-ed25519 keys; Thormarker (2021) shows joint use of one such key pair for Ed25519 and an
//     X25519 KEM secure. It spares consumers a second key in the manifest.
// Header and content are authenticated together: a flipped bit anywhere fails the GCM tag.
import { CipherSuite, DhkemP256HkdfSha256, DhkemX25519HkdfSha256, HkdfSha256, Aes256Gcm } from "@hpke/core";
import { constants, createCipheriv, createHash, randomBytes, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt, type KeyObject } from "node:crypto";
import { keyTypeOf, publicKeyDer } from "./keys.ts";

/** PNG-style: a non-ASCII first byte and CR LF catch text-mode mangling; never the start of a zip. */
export const SEALED_MAGIC = new Uint8Array([0x89, 0x43, 0x53, 0x45, 0x41, 0x4c, 0x0d, 0x0a]); // \x89 C S E A L \r \n
export const TAG_BYTES = 16;
const MAX_HEADER_BYTES = 1 << 20;
const HPKE_INFO = new TextEncoder().encode("cocos sealed results v1");

export type RecipientAlg = "RSA-OAEP-256" | "HPKE-P256-SHA256-A256GCM" | "HPKE-X25519-SHA256-A256GCM";

export interface Recipient {
  kid: string;
  alg: RecipientAlg;
  /** HPKE encapsulated key (base64); absent for RSA. */
  enc?: string;
  /** The wrapped content key (base64). */
  ek: string;
}

export interface SealedHeader {
  v: 1;
  aead: "A256GCM";
  iv: string;
  recipients: Recipient[];
}

export class SealedError extends Error {
  override name = "SealedError";
}

export function isSealed(head: Uint8Array): boolean {
  return head.byteLength >= SEALED_MAGIC.byteLength && SEALED_MAGIC.every((b, i) => head[i] === b);
}

/** The recipient id of a key: hex SHA-256 of its SPKI DER (a private key's public half). */
export function keyId(key: KeyObject | Uint8Array): string {
  const der = key instanceof Uint8Array ? key : publicKeyDer(key);
  return createHash("sha256").update(der).digest("hex");
}

const suite = (kem: "p256" | "x25519") =>
  new CipherSuite({ kem: kem === "p256" ? new DhkemP256HkdfSha256() : new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });

type Jwk = ReturnType<KeyObject["export"]> & object & { d?: string };

const P = 2n ** 255n - 19n;

function modPow(b: bigint, e: bigint): bigint {
  let r = 1n;
  for (b %= P; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
  return r;
}

function leToBig(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

function bigToLe(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

/** Ed25519 public key → X25519 public key: u = (1 + y) / (1 − y) mod p. */
export function ed25519ToX25519Public(key: KeyObject): Uint8Array {
  const raw = Buffer.from(key.export({ format: "jwk" }).x!, "base64url");
  const y = leToBig(raw) & ((1n << 255n) - 1n);
  if (y === 1n) throw new SealedError("Ed25519 key is the identity point: it has no X25519 counterpart");
  const u = ((1n + y) * modPow((1n - y + P) % P, P - 2n)) % P;
  return bigToLe(u);
}

/** Ed25519 private key → X25519 private key (its scalar: clamped SHA-512(seed)[0..32]). */
function ed25519ToX25519Private(key: KeyObject): Jwk {
  const seed = Buffer.from(key.export({ format: "jwk" }).d!, "base64url");
  const h = createHash("sha512").update(seed).digest().subarray(0, 32);
  h[0]! &= 248;
  h[31]! &= 127;
  h[31]! |= 64;
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), h]);
  return createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }).export({ format: "jwk" });
}

function p256Raw(key: KeyObject): Uint8Array {
  const j = (key.type === "private" ? createPublicKey(key) : key).export({ format: "jwk" });
  return Buffer.concat([Buffer.from([4]), Buffer.from(j.x!, "base64url"), Buffer.from(j.y!, "base64url")]);
}

const toArrayBuffer = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/** Wraps the content key for one consumer's public key. */
export async function wrapFor(pub: KeyObject, cek: Uint8Array): Promise<Recipient> {
  const kid = keyId(pub);
  const type = keyTypeOf(pub);
  if (type === "rsa") {
    const ek = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, cek);
    return { kid, alg: "RSA-OAEP-256", ek: ek.toString("base64") };
  }
  const kem = type === "ecdsa" ? "p256" : "x25519";
  const s = suite(kem);
  const raw = kem === "p256" ? p256Raw(pub) : ed25519ToX25519Public(pub);
  const recipientPublicKey = await s.kem.importKey("raw", toArrayBuffer(raw), true);
  // The kid as AAD: a wrapped key moved to another recipient's entry does not open.
  const { ct, enc } = await s.seal({ recipientPublicKey, info: toArrayBuffer(HPKE_INFO) }, toArrayBuffer(cek), toArrayBuffer(new TextEncoder().encode(kid)));
  return { kid, alg: kem === "p256" ? "HPKE-P256-SHA256-A256GCM" : "HPKE-X25519-SHA256-A256GCM", enc: Buffer.from(enc).toString("base64"), ek: Buffer.from(ct).toString("base64") };
}

/** Unwraps the content key with the consumer's private key; throws SealedError when it does not open. */
export async function unwrapWith(priv: KeyObject, r: Recipient): Promise<Uint8Array> {
  const ek = Buffer.from(r.ek, "base64");
  try {
    if (r.alg === "RSA-OAEP-256") {
      return new Uint8Array(privateDecrypt({ key: priv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, ek));
    }
    const kem = r.alg === "HPKE-P256-SHA256-A256GCM" ? "p256" : "x25519";
    const s = suite(kem);
    const jwk = kem === "p256" ? priv.export({ format: "jwk" }) : ed25519ToX25519Private(priv);
    const recipientKey = await s.kem.importKey("jwk", jwk as Jwk, false);
    const pt = await s.open({ recipientKey, enc: toArrayBuffer(Buffer.from(r.enc ?? "", "base64")), info: toArrayBuffer(HPKE_INFO) }, toArrayBuffer(ek), toArrayBuffer(new TextEncoder().encode(r.kid)));
    return new Uint8Array(pt);
  } catch (err) {
    throw new SealedError(`the content key for this consumer does not open with the given private key (${r.alg}): ${(err as Error).message}`);
  }
}

/** MAGIC ‖ length ‖ header: the prefix the content's GCM tag also covers. */
export function encodePrefix(h: SealedHeader): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(h));
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, json.byteLength);
  return Buffer.concat([SEALED_MAGIC, len, json]);
}

/** Parses the prefix from the first bytes of a sealed file; returns the header and the prefix length. */
export function decodePrefix(head: Uint8Array): { header: SealedHeader; prefixBytes: number } {
  if (!isSealed(head)) throw new SealedError("not a sealed result (magic missing)");
  if (head.byteLength < 12) throw new SealedError("sealed result truncated inside its header");
  const n = new DataView(head.buffer, head.byteOffset + 8, 4).getUint32(0);
  if (n > MAX_HEADER_BYTES) throw new SealedError(`sealed header is ${n} bytes: expected at most ${MAX_HEADER_BYTES}`);
  if (head.byteLength < 12 + n) throw new SealedError("sealed result truncated inside its header");
  let h: SealedHeader;
  try {
    h = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(12, 12 + n)));
  } catch {
    throw new SealedError("sealed header is not JSON");
  }
  if (h?.v !== 1 || h.aead !== "A256GCM" || typeof h.iv !== "string" || !Array.isArray(h.recipients)) {
    throw new SealedError(`sealed header: expected version 1 with A256GCM, iv and recipients, received ${JSON.stringify(h).slice(0, 200)}`);
  }
  return { header: h, prefixBytes: 12 + n };
}

/** The room decodePrefix may need: the fixed part plus the largest header accepted. */
export const MAX_PREFIX_BYTES = 12 + MAX_HEADER_BYTES;

/** Seals `plain` to every key: a fresh content key and IV, wrapped once per key. */
export async function sealBytes(plain: Uint8Array, keys: KeyObject[]): Promise<Uint8Array> {
  if (keys.length === 0) throw new SealedError("nothing to seal to: no recipient key");
  const cek = randomBytes(32);
  const iv = randomBytes(12);
  const recipients = await Promise.all(keys.map((k) => wrapFor(k, cek)));
  const prefix = encodePrefix({ v: 1, aead: "A256GCM", iv: iv.toString("base64"), recipients });
  const cipher = createCipheriv("aes-256-gcm", cek, iv);
  cipher.setAAD(prefix);
  const body = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  cek.fill(0);
  return Buffer.concat([prefix, body]);
}
