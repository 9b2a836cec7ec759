// Attested TLS (the v0.7–0.8 Cocos design, made standard-TLS friendly):
//  - the client draws a 64-byte nonce and sends it as SNI: hex in 32-char labels + ".nonce";
//  - the agent (TLS front in front of grpc-js) answers with a certificate for its long-lived RSA key
//    whose non-critical extension carries evidence with report_data = the aTLS-labelled digest of
//    SPKI DER and nonce (attestation/report-data.ts: no other interface can produce it);
//  - the client verifies evidence + policy + binding to the presented certificate's SPKI, then pins
//    that certificate/SPKI for the gRPC channel (same SNI → the agent serves the same certificate).
// Protocol details: attestation/README.md.
import { generateKeyPairSync, randomBytes, createPublicKey, sign as cryptoSign } from "node:crypto";
import * as tls from "node:tls";
import forge from "node-forge";
import { parseCertificate, publicKey, verifyCertSignature } from "./x509.ts";
import { derToPem, equal, fromHex, sha3_512, toHex } from "./bytes.ts";
import { atlsReportData, explainAtlsMisbinding, signedEvidence } from "./report-data.ts";
import { CheckList, type EvidenceKind, type Verdict } from "./verdict.ts";
import type { AttestationPolicy } from "./policy.ts";
import type { Evidence, EvidenceProvider } from "./providers/types.ts";
import type { Product } from "./snp/report.ts";
import { verifySnp, type SnpVerifyOptions } from "./snp/verify.ts";
import { verifyTdx, type TdxVerifyOptions } from "./tdx/verify.ts";
import { startGuardedFront, type GuardedFront, type GuardedFrontOptions } from "../protocol/conn-guard.ts";

/**
 * Unregistered private arc 2.99999, as Cocos v0.7–0.8 uses (2.99999.1.x = its vTPM-protobuf evidence);
 * our raw-evidence formats live under 2.99999.2 so the two never get confused. (A 2.25.<UUID> arc
 * would be cleaner, but node-forge encodes only 32-bit OID arcs.)
 */
export const ATLS_ARC = "2.99999.2";
export const EVIDENCE_OID: Record<EvidenceKind, string> = { snp: `${ATLS_ARC}.1`, tdx: `${ATLS_ARC}.2`, sim: `${ATLS_ARC}.3` };

export const NONCE_SUFFIX = ".nonce";

export function nonceToSni(nonce: Uint8Array): string {
  return toHex(nonce).match(/.{1,32}/g)!.join(".") + NONCE_SUFFIX;
}

/** The nonce in an SNI name, or undefined when the name is not a nonce (plain TLS client). */
export function sniToNonce(servername: string | undefined): Uint8Array | undefined {
  if (!servername?.endsWith(NONCE_SUFFIX)) return undefined;
  const hex = servername.slice(0, -NONCE_SUFFIX.length).replace(/\./g, "");
  if (!/^[0-9a-f]+$/i.test(hex) || hex.length % 2 || hex.length < 32 || hex.length > 128) return undefined;
  return fromHex(hex);
}

export interface AttestedCert {
  certPem: string;
  certDer: Uint8Array;
  keyPem: string;
}

/** Agent side: one long-lived TLS key; a fresh certificate (and evidence) per client nonce. */
export class AttestedIdentity {
  readonly keyPem: string;
  readonly spki: Uint8Array;
  private readonly cache = new Map<string, Promise<AttestedCert>>();
  private readonly commonName: string;
  private readonly cacheSize: number;

  /** keyPem: an RSA private key to reuse across restarts; default a fresh RSA-2048 key (node:crypto). */
  constructor(private readonly provider: EvidenceProvider, opts: { keyPem?: string; commonName?: string; cacheSize?: number } = {}) {
    this.keyPem = opts.keyPem ?? (generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "pem", type: "pkcs1" }) as string);
    this.spki = new Uint8Array(createPublicKey(this.keyPem).export({ format: "der", type: "spki" }));
    this.commonName = opts.commonName ?? "cocos-agent";
    this.cacheSize = opts.cacheSize ?? 64;
  }

  /** Certificate whose evidence binds this key and `nonce`; cached so a channel can re-handshake. */
  certificateFor(nonce: Uint8Array): Promise<AttestedCert> {
    const k = toHex(nonce);
    let p = this.cache.get(k);
    if (!p) {
      p = this.make(nonce);
      this.cache.set(k, p);
      p.catch(() => this.cache.delete(k));
      if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    }
    return p;
  }

  private async make(nonce: Uint8Array): Promise<AttestedCert> {
    const ev = await signedEvidence(this.provider, "atls", this.spki, nonce);
    return makeAttestedCertificate(this.keyPem, ev, this.commonName);
  }
}

/** Builds the self-signed certificate (node-forge, SHA-256/RSA) carrying `ev` in its extension. */
export function makeAttestedCertificate(keyPem: string, ev: Evidence, commonName = "cocos-agent"): AttestedCert {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(createPublicKey(keyPem).export({ format: "pem", type: "spki" }) as string);
  cert.serialNumber = "01" + toHex(new Uint8Array(randomBytes(15)));
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 5 * 60e3);
  cert.validity.notAfter = new Date(now + 24 * 3600e3);
  const attrs = [{ name: "commonName", value: commonName }, { name: "organizationName", value: ev.simulated ? "Cocos on Bun (SIMULATED TEE)" : "Cocos on Bun" }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: [{ type: 2, value: commonName }, { type: 2, value: "localhost" }] },
    { id: EVIDENCE_OID[ev.kind], critical: false, value: Buffer.from(ev.data).toString("binary") },
  ]);
  // forge builds the TBSCertificate; the RSA signature is made natively (forge's JS RSA costs ~100 ms).
  cert.signatureOid = cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  // getTBSCertificate exists in node-forge but is missing from @types/node-forge.
  cert.tbsCertificate = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  const tbs = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), "binary");
  cert.signature = cryptoSign("sha256", tbs, keyPem).toString("binary");
  const certPem = forge.pki.certificateToPem(cert);
  const certDer = new Uint8Array(Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), "binary"));
  return { certPem, certDer, keyPem };
}

export interface AtlsVerifyOptions {
  at?: Date;
  vcek?: Uint8Array;
  cacheDir?: string;
  snp?: Omit<SnpVerifyOptions, "policy" | "expectedReportData">;
  tdx?: Omit<TdxVerifyOptions, "policy" | "expectedReportData">;
}

/** Client side: evidence, policy and the binding of the evidence to this certificate's key. */
export function verifyAttestedCertificate(certDer: Uint8Array, nonce: Uint8Array, policy: AttestationPolicy | undefined, opts: AtlsVerifyOptions = {}): Verdict {
  const c = new CheckList("snp");
  try {
    const cert = parseCertificate(certDer);
    const found = (Object.entries(EVIDENCE_OID) as [EvidenceKind, string][]).find(([, oid]) => cert.extensions.has(oid));
    if (!found) {
      c.fail("atls.evidence_missing", "certificate carries no attestation evidence extension", { expected: Object.values(EVIDENCE_OID).join(" | ") });
      return c.verdict(false, {});
    }
    const [kind, oid] = found;
    const ext = cert.extensions.get(oid)!;
    c.add("atls.extension_non_critical", !ext.critical, { detail: "evidence extension must be non-critical" });
    c.add("atls.cert_self_signed", verifyCertSignature(cert, publicKey(cert.spki)), { detail: "certificate signed by its own (attested) key" });
    const expected = atlsReportData(cert.spki, nonce);
    const inner =
      kind === "tdx"
        ? verifyTdx(ext.value, { ...opts.tdx, at: opts.at, policy, expectedReportData: expected })
        : verifySnp(ext.value, { cacheDir: opts.cacheDir, ...opts.snp, vcek: opts.vcek, at: opts.at, policy, expectedReportData: expected });
    const rd = inner.claims.report_data as string | undefined;
    const bound = rd === toHex(expected);
    // Evidence another interface produced (the Attestation RPC for a relay's key) has its own code.
    const mis = !bound && rd && /^[0-9a-f]{128}$/.test(rd) ? explainAtlsMisbinding(fromHex(rd), cert.spki, nonce) : undefined;
    c.add(mis ? "atls.wrong_context" : "atls.spki_binding", bound, {
      expected: `SHA3-512("cocos-atls-v1", SPKI, nonce) = ${toHex(expected).slice(0, 32)}…`,
      actual: rd ? rd.slice(0, 32) + "…" : "no report data",
      detail: mis?.detail ?? "evidence is not bound to this certificate's key and our nonce",
    });
    const out = c.verdict(inner.simulated, { ...inner.claims, evidence_kind: kind, tls_spki_sha3_512: toHex(sha3_512(cert.spki)) });
    return mergeVerdicts(out, inner);
  } catch (e) {
    c.fail("atls.cert_malformed", `certificate does not parse: ${(e as Error).message}`);
    return c.verdict(false, {});
  }
}

function mergeVerdicts(outer: Verdict, inner: Verdict): Verdict {
  const checks = [...outer.checks, ...inner.checks];
  const first = outer.ok ? inner : outer;
  return { ...outer, kind: inner.kind, ok: outer.ok && inner.ok, checks, code: first.code, reason: first.reason, simulated: inner.simulated };
}

// ---------------------------------------------------------------- agent: TLS front

export type AtlsFront = GuardedFront;

/**
 * TLS terminator in front of a plaintext (h2c) grpc-js server on `backend` (Unix socket path or
 * {host, port}), with the connection guard's timeouts and per-client cap. Each handshake's SNI
 * nonce selects the certificate; SNI that is not a nonce gets the certificate for the all-zero
 * nonce (plain TLS clients still connect, but learn nothing fresh).
 */
export async function startAtlsFront(
  identity: AttestedIdentity,
  backend: string | { host: string; port: number },
  listen: { port?: number; host?: string } = {},
  guard: Pick<GuardedFrontOptions, "limits" | "onClose"> = {},
): Promise<AtlsFront> {
  const fallback = await identity.certificateFor(new Uint8Array(64));
  return startGuardedFront({
    backend,
    listen,
    ...guard,
    tls: {
      key: fallback.keyPem,
      cert: fallback.certPem,
      SNICallback: (servername, cb) => {
        const nonce = sniToNonce(servername) ?? new Uint8Array(64);
        identity.certificateFor(nonce).then(
          (c) => cb(null, tls.createSecureContext({ key: c.keyPem, cert: c.certPem })),
          (e) => cb(e instanceof Error ? e : new Error(String(e))),
        );
      },
    },
  });
}

// ---------------------------------------------------------------- client: verified connection

export interface AttestedConnection {
  verdict: Verdict;
  nonce: Uint8Array;
  /** SNI to use for every connection of the channel (grpc.ssl_target_name_override). */
  servername: string;
  certPem?: string;
  spki?: Uint8Array;
  /** For grpc-js: credentials.createSsl(Buffer.from(rootCertPem), null, null, { checkServerIdentity }). */
  rootCertPem?: string;
  checkServerIdentity?: (host: string, cert: { raw: Buffer }) => Error | undefined;
  channelOptions: Record<string, string>;
}

/** The evidence bytes inside an attested certificate, if any. */
export function extractEvidence(certDer: Uint8Array): Uint8Array | undefined {
  try {
    const cert = parseCertificate(certDer);
    for (const oid of Object.values(EVIDENCE_OID)) if (cert.extensions.has(oid)) return cert.extensions.get(oid)!.value;
  } catch {}
  return undefined;
}

/** Fetches the agent's certificate over TLS with a fresh nonce and verifies it against `policy`. */
export async function connectAttested(
  host: string,
  port: number,
  policy: AttestationPolicy | undefined,
  opts: AtlsVerifyOptions & { timeoutMs?: number; allowNetwork?: boolean; kdsTimeoutMs?: number } = {},
): Promise<AttestedConnection> {
  const nonce = new Uint8Array(randomBytes(64));
  const servername = nonceToSni(nonce);
  const base = { nonce, servername, channelOptions: { "grpc.ssl_target_name_override": servername, "grpc.default_authority": servername } };
  let raw: Uint8Array;
  try {
    raw = await new Promise<Uint8Array>((res, rej) => {
      const s = tls.connect({ host, port, servername, rejectUnauthorized: false, ALPNProtocols: ["h2"] }, () => {
        const pc = s.getPeerCertificate(false);
        s.destroy();
        pc?.raw ? res(new Uint8Array(pc.raw)) : rej(new Error("server presented no certificate"));
      });
      s.setTimeout(opts.timeoutMs ?? 10000, () => s.destroy(new Error(`TLS handshake with ${host}:${port} timed out`)));
      s.on("error", rej);
    });
  } catch (e) {
    const c = new CheckList("snp");
    c.fail("atls.handshake", `TLS handshake with ${host}:${port} failed: ${(e as Error).message}`);
    return { ...base, verdict: c.verdict(false, {}) };
  }
  let verdict = verifyAttestedCertificate(raw, nonce, policy, opts);
  if (verdict.code === "snp.vcek_missing" && opts.allowNetwork !== false && !policy?.root_of_trust?.disallow_network) {
    // Evidence without a VCEK (e.g. /dev/sev-guest): try AMD KDS once, then verify again.
    const evidence = extractEvidence(raw);
    if (evidence) {
      const { fetchVcek } = await import("./snp/kds.ts");
      const got = await fetchVcek(evidence.subarray(0, 1184), verdict.claims.product as Product | undefined, opts.cacheDir, opts.kdsTimeoutMs ?? 5000);
      if (got.ok) verdict = verifyAttestedCertificate(raw, nonce, policy, { ...opts, vcek: got.vcek });
    }
  }
  if (!verdict.ok) return { ...base, verdict };
  const spki = parseCertificate(raw).spki;
  const certPem = derToPem(raw);
  return {
    ...base,
    verdict,
    certPem,
    spki,
    rootCertPem: certPem,
    checkServerIdentity: (_host, cert) => {
      try {
        return equal(parseCertificate(new Uint8Array(cert.raw)).spki, spki) ? undefined : new Error("aTLS: server key differs from the attested key");
      } catch (e) {
        return new Error(`aTLS: bad server certificate: ${(e as Error).message}`);
      }
    },
  };
}

