// Key files in the original CLI's formats (cli/keys.go): RSA-4096 as PKCS#1 DER under a `PRIVATE KEY`
// label (mislabelled, kept for compatibility), ECDSA P-256 as SEC1 `EC PRIVATE KEY`, Ed25519 as PKCS#8.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  X509Certificate,
} from "node:crypto";

export type KeyType = "rsa" | "ecdsa" | "ed25519";
export const KEY_TYPES: readonly KeyType[] = ["rsa", "ecdsa", "ed25519"];

export class KeyError extends Error {
  override name = "KeyError";
}

export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

export function pemDecode(pem: string): { label: string; der: Buffer } {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (!m) throw new KeyError("expected a PEM block (-----BEGIN ...-----), found none");
  return { label: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ""), "base64") };
}

export function generateKeyPair(type: KeyType): { privatePem: string; publicPem: string } {
  switch (type) {
    case "rsa": {
      const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 4096 });
      const pkcs1 = privateKey.export({ type: "pkcs1", format: "der" });
      return { privatePem: pemEncode("PRIVATE KEY", pkcs1), publicPem: publicPem(publicKey) };
    }
    case "ecdsa": {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      return { privatePem: pemEncode("EC PRIVATE KEY", privateKey.export({ type: "sec1", format: "der" })), publicPem: publicPem(publicKey) };
    }
    case "ed25519": {
      const { privateKey, publicKey } = generateKeyPairSync("ed25519");
      return { privatePem: pemEncode("PRIVATE KEY", privateKey.export({ type: "pkcs8", format: "der" })), publicPem: publicPem(publicKey) };
    }
    default:
      throw new KeyError(`unknown key type ${JSON.stringify(type)}, expected rsa, ecdsa or ed25519`);
  }
}

function publicPem(key: KeyObject): string {
  return pemEncode("PUBLIC KEY", key.export({ type: "spki", format: "der" }));
}

/** Reads PKCS#8, PKCS#1 (either label) and SEC1 private keys. */
export function loadPrivateKey(pem: string): KeyObject {
  const { label, der } = pemDecode(pem);
  const attempts: ("pkcs8" | "pkcs1" | "sec1")[] =
    label === "PRIVATE KEY" ? ["pkcs8", "pkcs1"] : label === "RSA PRIVATE KEY" ? ["pkcs1"] : label === "EC PRIVATE KEY" ? ["sec1"] : [];
  if (attempts.length === 0) {
    throw new KeyError(`unsupported PEM label "${label}", expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY`);
  }
  for (const type of attempts) {
    try {
      return createPrivateKey({ key: der, format: "der", type });
    } catch {
      // next encoding
    }
  }
  throw new KeyError(`could not parse the "${label}" block as ${attempts.join(" or ")}`);
}

/** Accepts a PEM `PUBLIC KEY` block or SPKI DER bytes; also derives it from a private key PEM. */
export function loadPublicKey(pemOrDer: string | Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    if (typeof pemOrDer === "string") {
      const { label } = pemDecode(pemOrDer);
      key = label === "PUBLIC KEY" || label === "RSA PUBLIC KEY" ? createPublicKey(pemOrDer) : createPublicKey(loadPrivateKey(pemOrDer));
    } else {
      key = createPublicKey({ key: Buffer.from(pemOrDer), format: "der", type: "spki" });
    }
  } catch (err) {
    if (err instanceof KeyError) throw err;
    throw new KeyError(`expected an SPKI public key (DER or PEM), could not parse it: ${(err as Error).message}`);
  }
  keyTypeOf(key);
  return key;
}

/** The manifest's allowed key types; anything else (RSA-PSS, P-384, X25519…) is refused. */
export function keyTypeOf(key: KeyObject): KeyType {
  const t = key.asymmetricKeyType;
  if (t === "rsa") return "rsa";
  if (t === "ed25519") return "ed25519";
  if (t === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1" || curve === "P-256") return "ecdsa";
    throw new KeyError(`ECDSA key on curve ${curve}, expected P-256`);
  }
  throw new KeyError(`key type ${t}, expected rsa, ec (P-256) or ed25519`);
}

export function publicKeyDer(key: KeyObject): Uint8Array {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return new Uint8Array(pub.export({ type: "spki", format: "der" }));
}

/** The SubjectPublicKeyInfo DER of an X.509 certificate (PEM or DER): what a TLS peer proves it holds. */
export function certificateSpki(cert: string | Uint8Array): Uint8Array {
  try {
    return publicKeyDer(new X509Certificate(typeof cert === "string" ? cert : Buffer.from(cert)).publicKey);
  } catch (err) {
    throw new KeyError(`expected an X.509 certificate (PEM or DER), could not parse it: ${(err as Error).message}`);
  }
}
