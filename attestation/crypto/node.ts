// The server-side crypto backend: node:crypto (synchronous, native).
import { createHash, createPublicKey, verify as cryptoVerify, constants, type KeyObject } from "node:crypto";
import type { CryptoBackend, DigestName, VerifyOp } from "./backend.ts";

export function publicKey(spki: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
}

export const spkiOf = (k: KeyObject) => new Uint8Array(k.export({ format: "der", type: "spki" }));

function verify({ alg, spki, signature, data }: VerifyOp): boolean {
  try {
    const key = publicKey(spki);
    switch (alg.name) {
      case "RSA-PSS":
        return cryptoVerify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength }, signature);
      case "RSASSA-PKCS1-v1_5":
        return cryptoVerify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case "ECDSA":
        return key.asymmetricKeyDetails?.namedCurve === NODE_CURVE[alg.curve] && cryptoVerify(alg.hash, data, { key, dsaEncoding: "ieee-p1363" }, signature);
    }
  } catch {
    return false;
  }
}

const NODE_CURVE = { "P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1" } as const;

export const nodeBackend: CryptoBackend = {
  name: "node",
  verify,
  digest: (alg: DigestName, data: Uint8Array) => new Uint8Array(createHash(alg).update(data).digest()),
};
