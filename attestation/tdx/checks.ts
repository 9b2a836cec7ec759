// The TDX checks, written once for every crypto backend: PCK chain → pinned Intel SGX root (+ CRLs),
// QE report signed by the PCK key, QE report data binds the attestation key, quote signed by the
// attestation key, policy, and TCB-info / QE-identity collateral when supplied. Browser-safe.
import { CheckList, guardAsync, type Verdict } from "../verdict.ts";
import { parseCertificate, parseCrl, certSignatureOp, signatureOp, validAt, type Certificate, type Crl } from "../certificate.ts";
import { check, runAsync, type CryptoBackend, type Steps, type VerifyOp } from "../crypto/backend.ts";
import { concatBytes, equal, fromHex, isZero, pemToDer, toHex } from "../encoding.ts";
import { INTEL_SGX_ROOT_PEM } from "../roots/index.ts";
import { PolicyError, checkReportData, exactFieldCheck, policyBytes, type AttestationPolicy } from "../policy-json.ts";
import { parseQuote, tdDebug, type TdxQuote } from "./quote.ts";
import { pckInfo } from "./pck.ts";
import { verifySignedJson, type TdxCollateral } from "./collateral.ts";

export interface TdxVerifyOptions {
  policy?: AttestationPolicy;
  at?: Date;
  /** DER CRLs: the root CA CRL and/or the PCK (platform/processor CA) CRL. */
  crls?: Uint8Array[];
  collateral?: TdxCollateral;
  /** Overrides the pinned Intel SGX root (PEM). */
  rootPem?: string;
  expectedReportData?: Uint8Array;
}

export const DEFAULT_ACCEPTED_TCB = ["UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"];

// SubjectPublicKeyInfo header of an uncompressed P-256 key (id-ecPublicKey, prime256v1).
const P256_SPKI_PREFIX = fromHex("3059301306072a8648ce3d020106082a8648ce3d030107034200");

/** The quote's raw attestation key (x ‖ y) as an SPKI; a wrong length fails the signature check. */
const rawP256Spki = (key64: Uint8Array) => concatBytes(P256_SPKI_PREFIX, new Uint8Array([4]), key64);

const p256 = (spki: Uint8Array, signature: Uint8Array, data: Uint8Array): VerifyOp => ({ alg: { name: "ECDSA", hash: "sha256", curve: "P-256" }, spki, signature, data });

export function tdxClaims(q: TdxQuote) {
  const b = q.body;
  return {
    version: q.version,
    body_type: q.bodyType,
    tee_tcb_svn: toHex(b.teeTcbSvn),
    mr_seam: toHex(b.mrSeam),
    td_attributes: toHex(b.tdAttributes),
    xfam: toHex(b.xfam),
    mr_td: toHex(b.mrTd),
    mr_config_id: toHex(b.mrConfigId),
    mr_owner: toHex(b.mrOwner),
    mr_owner_config: toHex(b.mrOwnerConfig),
    rtmr0: toHex(b.rtmr[0]),
    rtmr1: toHex(b.rtmr[1]),
    rtmr2: toHex(b.rtmr[2]),
    rtmr3: toHex(b.rtmr[3]),
    report_data: toHex(b.reportData),
    debug: tdDebug(b),
  };
}

/** The TDX checks, in order; signature checks are yielded to the backend (crypto/backend.ts). */
export function* tdxChecks(c: CheckList, bytes: Uint8Array, opts: TdxVerifyOptions, crypto: CryptoBackend): Steps<Verdict> {
  const at = opts.at ?? new Date();
  const parsed = parseQuote(bytes);
  if (!parsed.ok) {
    c.fail(parsed.code, parsed.detail);
    return c.verdict(false, {});
  }
  const q = parsed.quote;
  const claims = tdxClaims(q);
  c.pass("tdx.quote_parsed", `v${q.version}, body type ${q.bodyType}, ${q.totalLength} B${bytes.length > q.totalLength ? ` (+${bytes.length - q.totalLength} trailing ignored)` : ""}`);

  // PCK chain: leaf, intermediate (platform or processor CA), root.
  let chain: Certificate[];
  try {
    chain = pemToDer(new TextDecoder().decode(q.certData).replace(/\0+$/, "")).map(parseCertificate);
  } catch (e) {
    c.fail("tdx.pck_chain_malformed", `PCK certificate chain does not parse: ${(e as Error).message}`);
    return c.verdict(false, claims);
  }
  if (!c.add("tdx.pck_chain_length", chain.length === 3, { expected: "3 certificates (PCK, CA, root)", actual: String(chain.length) })) return c.verdict(false, claims);
  const [pck, inter, root] = chain;
  const pinned = parseCertificate(pemToDer(opts.rootPem ?? INTEL_SGX_ROOT_PEM)[0]);
  c.add("tdx.root_not_pinned", equal(root.der, pinned.der), { expected: `${pinned.subjectCN} (pinned)`, actual: root.subjectCN });
  c.add("tdx.root_self_signed", yield* check(certSignatureOp(pinned, pinned.spki)));
  c.add("tdx.pck_ca_signature", yield* check(certSignatureOp(inter, pinned.spki)), { detail: `${inter.subjectCN} must be signed by ${pinned.subjectCN}` });
  c.add("tdx.pck_signature", yield* check(certSignatureOp(pck, inter.spki)), { detail: `${pck.subjectCN} must be signed by ${inter.subjectCN}` });
  for (const [what, cert] of [["root", pinned], ["PCK CA", inter], ["PCK", pck]] as const)
    c.add(at < cert.notBefore ? "tdx.cert_not_yet_valid" : "tdx.cert_expired", validAt(cert, at), {
      expected: `${cert.notBefore.toISOString()} .. ${cert.notAfter.toISOString()}`,
      actual: at.toISOString(),
      detail: `${what} certificate validity`,
    });

  for (const der of opts.crls ?? []) {
    let crl: Crl;
    try {
      crl = parseCrl(der);
    } catch (e) {
      c.fail("tdx.crl_malformed", `CRL does not parse: ${(e as Error).message}`);
      continue;
    }
    const issuer = equal(crl.issuerDer, pinned.subjectDer) ? pinned : equal(crl.issuerDer, inter.subjectDer) ? inter : undefined;
    if (!c.add("tdx.crl_issuer", !!issuer, { detail: "CRL issuer must be the root or the PCK CA" })) continue;
    c.add("tdx.crl_signature", yield* check(signatureOp(crl.sigAlg, crl.sigParams, crl.tbs, crl.signature, issuer!.spki)), { detail: `CRL signed by ${issuer!.subjectCN}` });
    const subject = issuer === pinned ? inter : pck;
    c.add("tdx.cert_revoked", !crl.revoked.has(subject.serialHex), { expected: "not revoked", actual: crl.revoked.has(subject.serialHex) ? `serial ${subject.serialHex} revoked` : "not revoked", detail: `${subject.subjectCN} against ${issuer!.subjectCN} CRL` });
  }

  const qe = q.qeReport;
  c.add("tdx.qe_report_signature", yield* check(p256(pck.spki, q.qeReportSignature, qe.raw)), { detail: "QE report signed by the PCK key" });
  const binding = crypto.digest("sha256", concatBytes(q.attestationKey, q.qeAuthData));
  c.add("tdx.qe_binding", equal(qe.reportData.subarray(0, 32), binding) && isZero(qe.reportData.subarray(32)), {
    expected: toHex(binding),
    actual: toHex(qe.reportData.subarray(0, 32)),
    detail: "QE report data = SHA-256(attestation key ‖ QE auth data)",
  });
  c.add("tdx.quote_signature", yield* check(p256(rawP256Spki(q.attestationKey), q.signature, q.signedRegion)), { detail: "quote header+body signed by the attestation key" });

  try {
    checkTdxPolicy(c, q, opts);
    if (opts.collateral) yield* checkCollateral(c, q, pck, opts.collateral, opts.policy, at);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    c.fail("tdx.policy_invalid", e.message);
  }
  return c.verdict(false, claims);
}

function checkTdxPolicy(c: CheckList, q: TdxQuote, opts: TdxVerifyOptions) {
  const t = opts.policy?.tdx ?? {};
  const b = q.body;
  const exact = exactFieldCheck(c, "tdx");
  checkReportData(c, "tdx.report_data_mismatch", b.reportData, opts.expectedReportData, t.report_data, "tdx.report_data");
  exact("tdx.mr_td_mismatch", b.mrTd, t.mr_td, 48, "mr_td");
  for (let i = 0; i < 4; i++) exact(`tdx.rtmr${i}_mismatch`, b.rtmr[i], t[`rtmr${i}`], 48, `rtmr${i}`);
  exact("tdx.mr_config_id_mismatch", b.mrConfigId, t.mr_config_id, 48, "mr_config_id");
  exact("tdx.mr_owner_mismatch", b.mrOwner, t.mr_owner, 48, "mr_owner");
  exact("tdx.mr_owner_config_mismatch", b.mrOwnerConfig, t.mr_owner_config, 48, "mr_owner_config");
  exact("tdx.mr_seam_mismatch", b.mrSeam, t.mr_seam, 48, "mr_seam");
  exact("tdx.xfam_mismatch", b.xfam, t.xfam, 8, "xfam");
  exact("tdx.td_attributes_mismatch", b.tdAttributes, t.td_attributes, 8, "td_attributes");
  c.add("tdx.td_debug", !tdDebug(b) || t.allow_debug === true, { expected: "TD debug off", actual: tdDebug(b) ? "TD debug on" : "TD debug off", detail: "debuggable TD: the host can read its memory" });
  const min = policyBytes(t.minimum_tee_tcb_svn, 16, "tdx.minimum_tee_tcb_svn");
  if (min) c.add("tdx.tee_tcb_svn_too_low", [...min].every((m, i) => b.teeTcbSvn[i] >= m), { expected: `>= ${toHex(min)}`, actual: toHex(b.teeTcbSvn) });
}

function* checkCollateral(c: CheckList, q: TdxQuote, pck: Certificate, col: TdxCollateral, pol: AttestationPolicy | undefined, at: Date): Steps<void> {
  const accepted = (pol?.tdx?.accepted_tcb_statuses as string[] | undefined) ?? DEFAULT_ACCEPTED_TCB;
  const pinned = parseCertificate(pemToDer(INTEL_SGX_ROOT_PEM)[0]);
  const chain = col.tcbSigningChain ? pemToDer(col.tcbSigningChain).map(parseCertificate) : [];
  const signer = chain.find((x) => !equal(x.der, pinned.der));
  if (!c.add("tdx.tcb_signing_chain", !!signer && (yield* check(certSignatureOp(signer, pinned.spki))), { detail: "TCB signing certificate must be signed by the pinned Intel root" })) return;
  c.add(at < signer!.notBefore ? "tdx.cert_not_yet_valid" : "tdx.tcb_signing_cert_expired", validAt(signer!, at), {
    expected: `${signer!.notBefore.toISOString()} .. ${signer!.notAfter.toISOString()}`,
    actual: at.toISOString(),
    detail: "TCB signing certificate validity",
  });
  const key = signer!.spki;
  const window = (code: string, body: any, what: string) => {
    const from = new Date(body?.issueDate);
    const to = new Date(body?.nextUpdate);
    c.add(code, from <= at && at <= to, { expected: `${body?.issueDate} .. ${body?.nextUpdate}`, actual: at.toISOString(), detail: `${what} validity window` });
  };
  const info = pckInfo(pck);
  if (col.tcbInfo) {
    const v = yield* verifySignedJson(col.tcbInfo, "tcbInfo", key);
    if (c.add("tdx.tcb_info_signature", v.ok, { detail: v.detail })) {
      const ti = v.body;
      window("tdx.tcb_info_expired", ti, "TCB info");
      c.add("tdx.fmspc_mismatch", !!info.fmspc && String(ti.fmspc).toLowerCase() === toHex(info.fmspc), { expected: String(ti.fmspc), actual: info.fmspc ? toHex(info.fmspc) : "no FMSPC in PCK" });
      const svn = q.body.teeTcbSvn;
      const skipModule = svn[1] > 0 && Array.isArray(ti.tdxModuleIdentities); // TDX 1.5: module TCB judged separately
      const level = (ti.tcbLevels as any[] | undefined)?.find((l) => {
        const sgx = l.tcb?.sgxtcbcomponents ?? [];
        const tdx = l.tcb?.tdxtcbcomponents ?? [];
        return (
          sgx.every((x: any, i: number) => (info.tcbComponents[i] ?? 0) >= x.svn) &&
          (info.pceSvn ?? 0) >= (l.tcb?.pcesvn ?? 0) &&
          tdx.every((x: any, i: number) => (skipModule && i < 2) || svn[i] >= x.svn)
        );
      });
      const status = level?.tcbStatus ?? "no matching TCB level";
      c.add("tdx.tcb_status", accepted.includes(status), { expected: accepted.join("|"), actual: status, detail: "platform TCB level from TCB info" });
    }
  }
  if (col.qeIdentity) {
    const v = yield* verifySignedJson(col.qeIdentity, "enclaveIdentity", key);
    if (c.add("tdx.qe_identity_signature", v.ok, { detail: v.detail })) {
      const id = v.body;
      window("tdx.qe_identity_expired", id, "QE identity");
      const qe = q.qeReport;
      const mask = (a: Uint8Array, m: Uint8Array) => a.map((x, i) => x & m[i]);
      const miscOk = ((qe.miscSelect & Number.parseInt(id.miscselectMask, 16)) >>> 0) === (Number.parseInt(id.miscselect, 16) >>> 0);
      const attrOk = equal(mask(qe.attributes, fromHex(id.attributesMask)), mask(fromHex(id.attributes), fromHex(id.attributesMask)));
      const signerOk = equal(qe.mrSigner, fromHex(id.mrsigner));
      const prodOk = qe.isvProdId === id.isvprodid;
      c.add("tdx.qe_identity_mismatch", miscOk && attrOk && signerOk && prodOk, {
        expected: `mrsigner ${String(id.mrsigner).toLowerCase()}, isvprodid ${id.isvprodid}`,
        actual: `mrsigner ${toHex(qe.mrSigner)}, isvprodid ${qe.isvProdId}${miscOk ? "" : ", miscselect differs"}${attrOk ? "" : ", attributes differ"}`,
      });
      const lvl = (id.tcbLevels as any[] | undefined)?.find((l) => qe.isvSvn >= l.tcb?.isvsvn);
      const status = lvl?.tcbStatus ?? "no matching QE TCB level";
      c.add("tdx.qe_tcb_status", accepted.includes(status), { expected: accepted.join("|"), actual: `${status} (isvsvn ${qe.isvSvn})` });
    }
  }
}

/** The checks with an asynchronous backend (WebCrypto); never throws. */
export function verifyTdxWith(quote: Uint8Array, opts: TdxVerifyOptions, crypto: CryptoBackend): Promise<Verdict> {
  return guardAsync("tdx", (c) => runAsync(tdxChecks(c, quote, opts, crypto), crypto));
}
