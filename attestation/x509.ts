// X.509 for server-side callers: everything of certificate.ts (parse, signature ops), checked with
// node:crypto KeyObjects, and the certificate builder (sim chain) signed with node:crypto.
import { sign as cryptoSign, constants, type KeyObject } from "node:crypto";
import * as A from "./asn1.ts";
import { OID, certSignatureOp, signatureOp, type Certificate } from "./certificate.ts";
import { check, clearSignatureMemo, runSync } from "./crypto/backend.ts";
import { nodeBackend, publicKey, spkiOf } from "./crypto/node.ts";

export * from "./certificate.ts";
export { publicKey };

/** Verifies `signature` over `data` with an algorithm identifier as found in certificates/CRLs. */
export function verifyWithAlg(alg: string, params: A.Node | undefined, data: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  return runSync(check(signatureOp(alg, params, data, signature, spkiOf(key))), nodeBackend);
}

/** Drops memoized certificate-signature results (benchmarks measuring cold verification). */
export const clearSignatureCache = clearSignatureMemo;

export function verifyCertSignature(cert: Certificate, issuerKey: KeyObject): boolean {
  return runSync(check(certSignatureOp(cert, spkiOf(issuerKey))), nodeBackend);
}

// ---------------------------------------------------------------- writer

export type Signer = { key: KeyObject; alg: "rsa-pss-sha384" | "ecdsa-sha384" | "ecdsa-sha256" };

function signerAlgId(alg: Signer["alg"]): Uint8Array {
  if (alg === "ecdsa-sha384") return A.seq(A.oid(OID.ecdsaSha384));
  if (alg === "ecdsa-sha256") return A.seq(A.oid(OID.ecdsaSha256));
  const hashAlg = A.seq(A.oid(OID.sha384), A.nul());
  return A.seq(A.oid(OID.rsassaPss), A.seq(A.ctx(0, hashAlg), A.ctx(1, A.seq(A.oid(OID.mgf1), hashAlg)), A.ctx(2, A.uint(48)), A.ctx(3, A.uint(1))));
}

export function signData(s: Signer, data: Uint8Array): Uint8Array {
  if (s.alg === "rsa-pss-sha384")
    return new Uint8Array(cryptoSign("sha384", data, { key: s.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }));
  return new Uint8Array(cryptoSign(s.alg === "ecdsa-sha384" ? "sha384" : "sha256", data, { key: s.key, dsaEncoding: "der" }));
}

export function name(attrs: [string, string][]): Uint8Array {
  const OIDS: Record<string, string> = { CN: OID.cn, O: "2.5.4.10", OU: "2.5.4.11", C: "2.5.4.6", L: "2.5.4.7", ST: "2.5.4.8" };
  return A.seq(...attrs.map(([k, v]) => A.set(A.seq(A.oid(OIDS[k] ?? k), A.utf8(v)))));
}

export interface CertSpec {
  serial: bigint | number;
  issuer: Uint8Array; // DER Name
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  extensions?: { oid: string; critical?: boolean; value: Uint8Array }[];
  signer: Signer;
}

export function buildCertificate(spec: CertSpec): Uint8Array {
  const algId = signerAlgId(spec.signer.alg);
  const exts = spec.extensions?.length
    ? [A.ctx(3, A.seq(...spec.extensions.map((e) => A.seq(A.oid(e.oid), ...(e.critical ? [A.bool(true)] : []), A.octets(e.value)))))]
    : [];
  const tbs = A.seq(A.ctx(0, A.uint(2)), A.uint(spec.serial), algId, spec.issuer, A.seq(A.time(spec.notBefore), A.time(spec.notAfter)), spec.subject, spec.spki, ...exts);
  return A.seq(tbs, algId, A.bitString(signData(spec.signer, tbs)));
}

export const basicConstraintsCA = (ca: boolean) => A.seq(...(ca ? [A.bool(true)] : []));
