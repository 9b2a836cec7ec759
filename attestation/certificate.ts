// X.509 certificates and CRLs on top of asn1.ts: parse, and turn a signature (algorithm
// identifier + issuer SPKI) into a VerifyOp that any crypto backend checks. Browser-safe: no node:*.
import * as A from "./asn1.ts";
import { equal as equalBytes, toHex } from "./encoding.ts";
import type { HashName, NamedCurve, SigAlg, VerifyOp } from "./crypto/backend.ts";

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
  ecPublicKey: "1.2.840.10045.2.1",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  p521: "1.3.132.0.35",
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

const HASH_BY_OID: Record<string, HashName> = { [OID.sha256]: "sha256", [OID.sha384]: "sha384", [OID.sha512]: "sha512" };
const CURVE_BY_OID: Record<string, NamedCurve> = { [OID.p256]: "P-256", [OID.p384]: "P-384", [OID.p521]: "P-521" };
const CURVE_BYTES: Record<NamedCurve, number> = { "P-256": 32, "P-384": 48, "P-521": 66 };

function pssParams(params?: A.Node): { hash?: HashName; saltLength: number } {
  // RFC 4055 defaults are SHA-1/20; AMD always states SHA-384/48 explicitly.
  let hash: HashName | undefined = "sha1";
  let saltLength = 20;
  if (params && params.tag === A.TAG.SEQUENCE)
    for (const f of A.children(params)) {
      const inner = A.children(f)[0];
      if (f.tag === 0xa0) hash = HASH_BY_OID[algorithm(inner!).oid];
      else if (f.tag === 0xa2) saltLength = A.intValue(inner!);
    }
  return { hash, saltLength };
}

/** The named curve of an EC SubjectPublicKeyInfo; undefined for other keys or unknown curves. */
function spkiCurve(spki: Uint8Array): NamedCurve | undefined {
  const [alg] = A.children(A.readAll(spki));
  const [o, p] = A.children(A.expect(alg, A.TAG.SEQUENCE, "SubjectPublicKeyInfo.algorithm"));
  if (A.decodeOid(o!) !== OID.ecPublicKey || p?.tag !== A.TAG.OID) return undefined;
  return CURVE_BY_OID[A.decodeOid(p)];
}

/** ECDSA-Sig-Value (DER SEQUENCE of r, s) → IEEE P1363 r ‖ s of the curve's size; undefined if it does not fit. */
export function ecdsaDerToP1363(der: Uint8Array, curve: NamedCurve): Uint8Array | undefined {
  const n = CURVE_BYTES[curve];
  const parts = A.children(A.expect(A.readAll(der), A.TAG.SEQUENCE, "ECDSA-Sig-Value"));
  if (parts.length !== 2) return undefined;
  const out = new Uint8Array(2 * n);
  for (const [i, p] of parts.entries()) {
    const v = A.uintBytes(p);
    if (v.length > n) return undefined;
    out.set(v, (i + 1) * n - v.length);
  }
  return out;
}

/** A signature as found in certificates/CRLs (algorithm OID + parameters) as a backend op; undefined when unsupported or malformed. */
export function signatureOp(alg: string, params: A.Node | undefined, data: Uint8Array, signature: Uint8Array, spki: Uint8Array): VerifyOp | undefined {
  try {
    let sigAlg: SigAlg;
    let sig = signature;
    switch (alg) {
      case OID.rsassaPss: {
        const { hash, saltLength } = pssParams(params);
        if (!hash) return undefined;
        sigAlg = { name: "RSA-PSS", hash, saltLength };
        break;
      }
      case OID.sha256WithRSA:
      case OID.sha384WithRSA:
        sigAlg = { name: "RSASSA-PKCS1-v1_5", hash: alg === OID.sha256WithRSA ? "sha256" : "sha384" };
        break;
      case OID.ecdsaSha256:
      case OID.ecdsaSha384: {
        const curve = spkiCurve(spki);
        const p1363 = curve && ecdsaDerToP1363(signature, curve);
        if (!curve || !p1363) return undefined;
        sigAlg = { name: "ECDSA", hash: alg === OID.ecdsaSha256 ? "sha256" : "sha384", curve };
        sig = p1363;
        break;
      }
      default:
        return undefined;
    }
    return { alg: sigAlg, spki, signature: sig, data };
  } catch {
    return undefined; // a malformed signature or key is a failed check, not an error
  }
}

/** The op checking that `issuerSpki` signed `cert` (memoizable: chains repeat for every report). */
export function certSignatureOp(cert: Certificate, issuerSpki: Uint8Array): VerifyOp | undefined {
  const op = signatureOp(cert.sigAlg, cert.sigParams, cert.tbs, cert.signature, issuerSpki);
  return op && { ...op, memo: true };
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

