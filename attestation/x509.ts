// X.509 certificates and CRLs on top of asn1.ts: parse, verify a signature by an issuer key
// (RSA-PSS, RSA PKCS#1 v1.5, ECDSA), and build certificates (sim chain) signed with node:crypto.
import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify, constants, type KeyObject } from "node:crypto";
import * as A from "./asn1.ts";
import { equal as equalBytes, toHex } from "./bytes.ts";

export const OID = {
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsassaPss: "1.2.840.113549.1.1.10",
  sha256WithRSA: "1.2.840.113549.1.1.11",
  sha384WithRSA: "1.2.840.113549.1.1.12",
  ecdsaSha256: "1.2.840.10045.4.3.2",
  ecdsaSha384: "1.2.840.10045.4.3.3",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  mgf1: "1.2.840.113549.1.1.8",
  cn: "2.5.4.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
} as const;

export interface Extension { critical: boolean; value: Uint8Array }

export interface Certificate {
  der: Uint8Array;
  tbs: Uint8Array;
  serialHex: string;
  sigAlg: string;
  sigParams?: A.Node;
  signature: Uint8Array;
  issuerDer: Uint8Array;
  subjectDer: Uint8Array;
  subjectCN: string;
  issuerCN: string;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  extensions: Map<string, Extension>;
}

function cnOf(name: A.Node): string {
  for (const rdn of A.children(name))
    for (const atv of A.children(rdn)) {
      const [t, v] = A.children(atv);
      if (A.decodeOid(t) === OID.cn) return new TextDecoder().decode(A.value(v));
    }
  return "";
}

function algorithm(n: A.Node): { oid: string; params?: A.Node } {
  const [o, p] = A.children(A.expect(n, A.TAG.SEQUENCE, "AlgorithmIdentifier"));
  return { oid: A.decodeOid(o), params: p };
}

function bitStringBytes(n: A.Node): Uint8Array {
  const v = A.value(A.expect(n, A.TAG.BIT_STRING, "BIT STRING"));
  if (v.length === 0 || v[0] !== 0) throw new A.Asn1Error("DER: BIT STRING with unused bits");
  return v.subarray(1);
}

/** Parses a DER certificate; throws Asn1Error on malformed input (callers turn it into a verdict). */
export function parseCertificate(der: Uint8Array): Certificate {
  const root = A.readAll(der);
  const [tbsN, algN, sigN] = A.children(A.expect(root, A.TAG.SEQUENCE, "Certificate"));
  const tbsItems = A.children(A.expect(tbsN, A.TAG.SEQUENCE, "TBSCertificate"));
  let i = 0;
  if (tbsItems[0]?.tag === 0xa0) i++; // version
  const serial = A.expect(tbsItems[i++], A.TAG.INTEGER, "serial");
  const innerAlg = A.expect(tbsItems[i++], A.TAG.SEQUENCE, "tbsCertificate.signature");
  const issuer = A.expect(tbsItems[i++], A.TAG.SEQUENCE, "issuer");
  const validity = A.children(A.expect(tbsItems[i++], A.TAG.SEQUENCE, "validity"));
  const subject = A.expect(tbsItems[i++], A.TAG.SEQUENCE, "subject");
  const spki = A.expect(tbsItems[i++], A.TAG.SEQUENCE, "subjectPublicKeyInfo");
  const extensions = new Map<string, Extension>();
  for (; i < tbsItems.length; i++) {
    if (tbsItems[i].tag !== 0xa3) continue;
    for (const e of A.children(A.expect(A.children(tbsItems[i])[0], A.TAG.SEQUENCE, "extensions"))) {
      const parts = A.children(e);
      const critical = parts.length === 3 && A.value(parts[1])[0] !== 0;
      extensions.set(A.decodeOid(parts[0]), { critical, value: A.value(A.expect(parts[parts.length - 1], A.TAG.OCTET_STRING, "extnValue")) });
    }
  }
  const alg = algorithm(algN);
  // RFC 5280 §4.1.1.2: the unsigned outer algorithm must equal the signed inner one.
  if (!equalBytes(A.raw(innerAlg), A.raw(algN))) throw new A.Asn1Error("certificate signatureAlgorithm differs from tbsCertificate.signature");
  if (validity.length !== 2) throw new A.Asn1Error("DER: validity needs notBefore and notAfter");
  return {
    der,
    tbs: A.raw(tbsN),
    serialHex: toHex(A.value(serial)),
    sigAlg: alg.oid,
    sigParams: alg.params,
    signature: bitStringBytes(sigN),
    issuerDer: A.raw(issuer),
    subjectDer: A.raw(subject),
    subjectCN: cnOf(subject),
    issuerCN: cnOf(issuer),
    notBefore: A.decodeTime(validity[0]),
    notAfter: A.decodeTime(validity[1]),
    spki: A.raw(spki),
    extensions,
  };
}

export function publicKey(spki: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
}

const HASH_BY_OID: Record<string, string> = { [OID.sha256]: "sha256", [OID.sha384]: "sha384", [OID.sha512]: "sha512" };

function pssParams(params?: A.Node): { hash: string; saltLength: number } {
  // RFC 4055 defaults are SHA-1/20; AMD always states SHA-384/48 explicitly.
  let hash = "sha1";
  let saltLength = 20;
  if (params && params.tag === A.TAG.SEQUENCE)
    for (const f of A.children(params)) {
      const inner = A.children(f)[0];
      if (f.tag === 0xa0) hash = HASH_BY_OID[algorithm(inner).oid] ?? "unknown";
      else if (f.tag === 0xa2) saltLength = A.intValue(inner);
    }
  return { hash, saltLength };
}

/** Verifies `signature` over `data` with an algorithm identifier as found in certificates/CRLs. */
export function verifyWithAlg(alg: string, params: A.Node | undefined, data: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  try {
    switch (alg) {
      case OID.rsassaPss: {
        const { hash, saltLength } = pssParams(params);
        return cryptoVerify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature);
      }
      case OID.sha256WithRSA:
        return cryptoVerify("sha256", data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case OID.sha384WithRSA:
        return cryptoVerify("sha384", data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case OID.ecdsaSha256:
        return cryptoVerify("sha256", data, { key, dsaEncoding: "der" }, signature);
      case OID.ecdsaSha384:
        return cryptoVerify("sha384", data, { key, dsaEncoding: "der" }, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

// Signature checks are deterministic, so results are memoized per (issuer key, certificate bytes):
// the same AMD/Intel chain is checked for every report.
const sigMemo = new Map<string, boolean>();

/** Drops memoized certificate-signature results (benchmarks measuring cold verification). */
export const clearSignatureCache = () => sigMemo.clear();

export function verifyCertSignature(cert: Certificate, issuerKey: KeyObject): boolean {
  const spki = issuerKey.export({ format: "der", type: "spki" });
  const k = createHash("sha256").update(spki).update(cert.der).digest("base64");
  const hit = sigMemo.get(k);
  if (hit !== undefined) return hit;
  const ok = verifyWithAlg(cert.sigAlg, cert.sigParams, cert.tbs, cert.signature, issuerKey);
  if (sigMemo.size >= 512) sigMemo.delete(sigMemo.keys().next().value!);
  sigMemo.set(k, ok);
  return ok;
}

export function validAt(c: { notBefore: Date; notAfter: Date }, at: Date): boolean {
  return c.notBefore.getTime() <= at.getTime() && at.getTime() <= c.notAfter.getTime();
}

// ---------------------------------------------------------------- CRLs

export interface Crl {
  tbs: Uint8Array;
  sigAlg: string;
  sigParams?: A.Node;
  signature: Uint8Array;
  issuerDer: Uint8Array;
  thisUpdate: Date;
  nextUpdate?: Date;
  revoked: Set<string>; // serial hex as in Certificate.serialHex
}

export function parseCrl(der: Uint8Array): Crl {
  const root = A.readAll(der);
  const [tbsN, algN, sigN] = A.children(A.expect(root, A.TAG.SEQUENCE, "CertificateList"));
  const items = A.children(A.expect(tbsN, A.TAG.SEQUENCE, "TBSCertList"));
  let i = 0;
  if (items[0]?.tag === A.TAG.INTEGER) i++;
  const innerAlg = A.expect(items[i++], A.TAG.SEQUENCE, "TBSCertList.signature");
  const issuer = A.expect(items[i++], A.TAG.SEQUENCE, "CRL issuer");
  const thisUpdate = A.decodeTime(items[i++]);
  let nextUpdate: Date | undefined;
  if (items[i] && (items[i].tag === A.TAG.UTC_TIME || items[i].tag === A.TAG.GENERALIZED_TIME)) nextUpdate = A.decodeTime(items[i++]);
  const revoked = new Set<string>();
  if (items[i]?.tag === A.TAG.SEQUENCE)
    for (const r of A.children(items[i])) revoked.add(toHex(A.value(A.children(r)[0])));
  const alg = algorithm(algN);
  if (!equalBytes(A.raw(innerAlg), A.raw(algN))) throw new A.Asn1Error("CRL signatureAlgorithm differs from TBSCertList.signature");
  return { tbs: A.raw(tbsN), sigAlg: alg.oid, sigParams: alg.params, signature: bitStringBytes(sigN), issuerDer: A.raw(issuer), thisUpdate, nextUpdate, revoked };
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
