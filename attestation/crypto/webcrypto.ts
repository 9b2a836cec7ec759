// The browser crypto backend: WebCrypto (crypto.subtle) for signatures, @noble/hashes for digests
// (WebCrypto has no SHA3, and its digest is asynchronous). Works in any runtime with crypto.subtle.
import { sha256, sha384 } from "@noble/hashes/sha2.js";
import { sha3_256, sha3_512 } from "@noble/hashes/sha3.js";
import { toHex } from "../encoding.ts";
import type { CryptoBackend, DigestName, HashName, SigAlg, VerifyOp } from "./backend.ts";

const HASH: Record<HashName, string> = { sha1: "SHA-1", sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" };
const DIGESTS: Record<DigestName, (b: Uint8Array) => Uint8Array> = { sha256, sha384, "sha3-256": sha3_256, "sha3-512": sha3_512 };

type ImportParams = Parameters<SubtleCrypto["importKey"]>[2];
type VerifyParams = Parameters<SubtleCrypto["verify"]>[0];
// Our byte arrays never sit on a SharedArrayBuffer; WebCrypto reads views at their offset.
const source = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;

function importParams(alg: SigAlg): ImportParams {
  return alg.name === "ECDSA" ? { name: "ECDSA", namedCurve: alg.curve } : { name: alg.name, hash: HASH[alg.hash] };
}

function verifyParams(alg: SigAlg): VerifyParams {
  if (alg.name === "RSA-PSS") return { name: "RSA-PSS", saltLength: alg.saltLength };
  if (alg.name === "ECDSA") return { name: "ECDSA", hash: HASH[alg.hash] };
  return { name: alg.name };
}

/** A backend on `subtle` (default: the global crypto.subtle). Imported keys are cached per SPKI and algorithm. */
export function webCryptoBackend(subtle: SubtleCrypto = globalThis.crypto.subtle): CryptoBackend {
  const keys = new Map<string, Promise<CryptoKey>>();
  const key = (spki: Uint8Array, alg: SigAlg) => {
    const params = importParams(alg);
    const id = `${JSON.stringify(params)}|${toHex(sha256(spki))}`;
    let k = keys.get(id);
    if (!k) {
      k = subtle.importKey("spki", source(spki), params, false, ["verify"]);
      if (keys.size >= 64) keys.delete(keys.keys().next().value!);
      keys.set(id, k);
    }
    return k;
  };
  return {
    name: "webcrypto",
    async verify({ alg, spki, signature, data }: VerifyOp) {
      try {
        return await subtle.verify(verifyParams(alg), await key(spki, alg), source(signature), source(data));
      } catch {
        return false; // a key WebCrypto refuses (wrong curve, not RSA) is a failed check
      }
    },
    digest: (alg, data) => DIGESTS[alg](data),
  };
}
