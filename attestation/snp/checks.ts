// The SEV-SNP checks, written once for every crypto backend: report → pinned ARK → ASK/ASVK →
// VCEK/VLEK → report signature → policy. Browser-safe (no node:*): verify.ts runs it with
// node:crypto, browser/ with WebCrypto. Check names, codes and expected/actual come only from here.
import { CheckList, guardAsync, type Verdict } from "../verdict.ts";
import { parseCertificate, certSignatureOp, validAt, type Certificate } from "../certificate.ts";
import { check, runAsync, type CryptoBackend, type Steps } from "../crypto/backend.ts";
import { equal, pemToDer, toHex } from "../encoding.ts";
import { AMD_ROOTS, type AmdRoots } from "../roots/index.ts";
import { PolicyError, type AttestationPolicy } from "../policy-json.ts";
import { decodeTcb, formatTcb, p1363Signature, parseReport, productFromCpuid, REPORT_SIZE, SIGNED_END, signingKey, type Product, type SnpReport } from "./report.ts";
import { parseCertTable, type CertSet } from "./certtable.ts";
import { productFromName, vcekInfo } from "./vcek.ts";
import { checkSnpPolicy } from "./policy-check.ts";

export interface SnpVerifyOptions {
  policy?: AttestationPolicy;
  /** VCEK or VLEK DER given by the caller (wins over the evidence's table). */
  vcek?: Uint8Array;
  /** Extra certificates (e.g. an ASK/ARK bundle from `ca-bundle`). */
  certs?: CertSet;
  /** Verification time; default now. Pin it to check old evidence against expired certificates. */
  at?: Date;
  /** Override the pinned AMD roots (tests, or a Genoa/Turin ASVK). */
  roots?: Partial<Record<Exclude<Product, "SIM">, AmdRoots>>;
  /** Expected report_data, overriding policy.report_data (aTLS binding, replay protection). */
  expectedReportData?: Uint8Array;
}

/** What the checks need beyond the options: the crypto backend's digests, and a VCEK store (server: the cache dir). */
export interface SnpEnvironment {
  crypto: CryptoBackend;
  cachedVcek?: (product: Product, r: SnpReport) => Uint8Array | undefined;
}

export interface SplitEvidence {
  report: Uint8Array;
  certs: CertSet;
}

/** Splits `report ‖ certificate table`; a tail that is not a table makes the report "oversized". */
export function splitSnpEvidence(ev: Uint8Array): { ok: true; value: SplitEvidence } | { ok: false; code: string; detail: string } {
  if (ev.length < REPORT_SIZE) return { ok: false, code: "snp.report_truncated", detail: `expected ${REPORT_SIZE} bytes, got ${ev.length}` };
  if (ev.length === REPORT_SIZE) return { ok: true, value: { report: ev, certs: {} } };
  const t = parseCertTable(ev.subarray(REPORT_SIZE));
  if (!t.ok) return { ok: false, code: "snp.report_oversized", detail: `expected ${REPORT_SIZE} bytes or a report followed by a certificate table, got ${ev.length} bytes (${t.detail})` };
  return { ok: true, value: { report: ev.subarray(0, REPORT_SIZE), certs: t.certs } };
}

function policyProduct(p?: AttestationPolicy): string | undefined {
  const r = p?.root_of_trust;
  if (r?.product) return String(r.product);
  if (r?.product_line) return String(r.product_line);
  const n = p?.policy?.product?.name;
  if (n === 1 || n === "SEV_PRODUCT_MILAN") return "Milan";
  if (n === 2 || n === "SEV_PRODUCT_GENOA") return "Genoa";
  if (n === 3 || n === "SEV_PRODUCT_TURIN") return "Turin";
  return undefined;
}


function tryCert(c: CheckList, code: string, der: Uint8Array | undefined, what: string): Certificate | undefined {
  if (!der) return undefined;
  try {
    return parseCertificate(der);
  } catch (e) {
    c.fail(code, `${what} is not a valid DER certificate: ${(e as Error).message}`);
    return undefined;
  }
}

export function snpClaims(r: SnpReport, product?: string) {
  return {
    version: r.version,
    product,
    signing_key: signingKey(r),
    guest_svn: r.guestSvn,
    policy: "0x" + r.policy.toString(16),
    vmpl: r.vmpl,
    measurement: toHex(r.measurement),
    host_data: toHex(r.hostData),
    report_data: toHex(r.reportData),
    chip_id: toHex(r.chipId),
    family_id: toHex(r.familyId),
    image_id: toHex(r.imageId),
    id_key_digest: toHex(r.idKeyDigest),
    author_key_digest: toHex(r.authorKeyDigest),
    reported_tcb: formatTcb(decodeTcb(r.reportedTcb, product as Product)),
    current_tcb: formatTcb(decodeTcb(r.currentTcb, product as Product)),
    committed_tcb: formatTcb(decodeTcb(r.committedTcb, product as Product)),
    launch_tcb: formatTcb(decodeTcb(r.launchTcb, product as Product)),
    firmware: `${r.currentVersion.major}.${r.currentVersion.minor} build ${r.currentVersion.build}`,
  };
}

/** The SEV-SNP checks, in order; signature checks are yielded to the backend (crypto/backend.ts). */
export function* snpChecks(c: CheckList, evidence: Uint8Array, opts: SnpVerifyOptions, env: SnpEnvironment): Steps<Verdict> {
  const at = opts.at ?? new Date();
  const sha256Hex = (b: Uint8Array) => toHex(env.crypto.digest("sha256", b));
  const split = splitSnpEvidence(evidence);
  if (!split.ok) {
    c.fail(split.code, split.detail);
    return c.verdict(false, {});
  }
  const parsed = parseReport(split.value.report);
  if (!parsed.ok) {
    c.fail(parsed.code, parsed.detail);
    return c.verdict(false, {});
  }
  const r = parsed.report;
  c.pass("snp.report_parsed", `version ${r.version}, ${REPORT_SIZE} bytes`);
  c.add("snp.signature_algo", r.signatureAlgo === 1, { expected: "1 (ECDSA P-384 with SHA-384)", actual: String(r.signatureAlgo) });

  const certs: CertSet = { ...split.value.certs, ...(opts.certs ?? {}) };
  const keyKind = signingKey(r);
  if (!c.add("snp.signing_key", keyKind === "vcek" || keyKind === "vlek", { expected: "VCEK or VLEK", actual: keyKind })) return c.verdict(false, snpClaims(r));

  // Product: the policy names it; otherwise the VCEK's product name, then the v3 CPUID bytes.
  const wanted = policyProduct(opts.policy);
  const leafDer = opts.vcek ?? (keyKind === "vlek" ? certs.vlek ?? certs.vcek : certs.vcek ?? certs.vlek);
  let leaf = tryCert(c, "snp.vcek_malformed", leafDer, keyKind.toUpperCase());
  const leafProduct = leaf ? productFromName(vcekInfo(leaf).productName) : undefined;
  const cpuProduct = productFromCpuid(r);
  const product = (wanted as Product | undefined) ?? leafProduct ?? cpuProduct;
  const simulated = product === "SIM" || leafProduct === "SIM";
  const claims = snpClaims(r, product);
  if (wanted && !["Milan", "Genoa", "Turin", "SIM"].includes(wanted)) {
    c.fail("snp.product_unknown", "policy names an unknown product", { expected: "Milan, Genoa, Turin or SIM", actual: wanted });
    return c.verdict(simulated, claims);
  }
  if (!product) {
    c.fail("snp.product_unknown", "cannot tell the product: set root_of_trust.product in the policy or supply the VCEK", { expected: "Milan, Genoa, Turin" });
    return c.verdict(simulated, claims);
  }
  for (const [src, v] of [["VCEK product name", leafProduct], ["report CPUID", cpuProduct]] as const)
    if (v) c.add("snp.product_mismatch", v === product, { expected: product, actual: v, detail: `${src} names another product` });

  // Root of trust.
  let ark: Certificate | undefined;
  let inter: Certificate | undefined;
  const evArk = tryCert(c, "snp.ark_malformed", certs.ark, "ARK");
  const evAsk = tryCert(c, "snp.ask_malformed", certs.ask, "ASK/ASVK");
  if (product === "SIM") {
    const rot = opts.policy?.root_of_trust ?? {};
    const pinnedPem = rot.sim_ark_pem ? pemToDer(String(rot.sim_ark_pem))[0] : undefined;
    const pinnedSha = rot.sim_ark_sha256 ? String(rot.sim_ark_sha256).toLowerCase() : pinnedPem ? sha256Hex(pinnedPem) : undefined;
    const candidate = evArk ?? (pinnedPem ? tryCert(c, "snp.ark_malformed", pinnedPem, "sim ARK") : undefined);
    const ok = !!candidate && !!pinnedSha && sha256Hex(candidate.der) === pinnedSha && (!pinnedPem || equal(pinnedPem, candidate.der));
    c.add("snp.sim_root_not_trusted", ok, {
      expected: pinnedSha ? `sim ARK sha256 ${pinnedSha}` : "a policy naming the sim ARK (root_of_trust.sim_ark_sha256)",
      actual: candidate ? `sha256 ${sha256Hex(candidate.der)}` : "no sim ARK",
      detail: "simulated evidence is trusted only when the policy pins the sim root",
    });
    ark = ok ? candidate : undefined;
    inter = evAsk;
  } else {
    if (simulated) {
      c.fail("snp.sim_root_not_trusted", "evidence comes from the sim provider but the policy does not name the sim root", { expected: `product ${product}`, actual: "SIM" });
      return c.verdict(true, claims);
    }
    const roots = opts.roots?.[product] ?? AMD_ROOTS[product];
    ark = parseCertificate(pemToDer(roots.ark)[0]);
    if (evArk) c.add("snp.ark_not_pinned", equal(evArk.der, ark.der), { expected: `pinned ARK-${product} sha256 ${sha256Hex(ark.der)}`, actual: `sha256 ${sha256Hex(evArk.der)}` });
    const pinnedInter = keyKind === "vlek" ? roots.asvk : roots.ask;
    // An ASK from the evidence is used when present (it must still chain to the pinned ARK).
    inter = evAsk ?? (pinnedInter ? parseCertificate(pemToDer(pinnedInter)[0]) : undefined);
  }
  if (!ark) return c.verdict(simulated, claims);
  c.add("snp.ark_self_signed", yield* check(certSignatureOp(ark, ark.spki)), { detail: `ARK ${ark.subjectCN} self-signature (RSA-PSS SHA-384)` });
  if (!inter) {
    c.fail("snp.ask_missing", `no ${keyKind === "vlek" ? "ASVK" : "ASK"} for ${product}`);
    return c.verdict(simulated, claims);
  }
  c.add("snp.ask_signature", yield* check(certSignatureOp(inter, ark.spki)), { detail: `${inter.subjectCN} must be signed by ${ark.subjectCN}` });

  if (!leaf) {
    const cached = env.cachedVcek?.(product, r);
    leaf = tryCert(c, "snp.vcek_malformed", cached, "cached VCEK");
  }
  if (!leaf) {
    c.fail("snp.vcek_missing", `no ${keyKind.toUpperCase()}: pass one (--vcek), put it in the cache dir, or allow the AMD KDS fetch`);
    return c.verdict(simulated, claims);
  }
  c.add(`snp.${keyKind}_signature`, yield* check(certSignatureOp(leaf, inter.spki)), { detail: `${keyKind.toUpperCase()} (${leaf.subjectCN}) must be signed by ${inter.subjectCN}` });

  for (const [what, cert] of [["ARK", ark], ["ASK", inter], [keyKind.toUpperCase(), leaf]] as const) {
    const ok = validAt(cert, at);
    c.add(at < cert.notBefore ? "snp.cert_not_yet_valid" : "snp.cert_expired", ok, {
      expected: `${cert.notBefore.toISOString()} .. ${cert.notAfter.toISOString()}`,
      actual: at.toISOString(),
      detail: `${what} validity at the verification time`,
    });
  }

  const info = vcekInfo(leaf);
  const tcb = decodeTcb(r.reportedTcb, product);
  const fields: [keyof typeof tcb, string][] = [["bootloader", "blSPL"], ["tee", "teeSPL"], ["snp", "snpSPL"], ["microcode", "ucodeSPL"]];
  if (product === "Turin") fields.unshift(["fmc", "fmcSPL"]);
  const mism = fields.filter(([k]) => info.tcb[k] !== tcb[k]).map(([k, ext]) => `${ext}=${info.tcb[k]} vs ${tcb[k]}`);
  c.add("snp.vcek_tcb_mismatch", mism.length === 0, { expected: `VCEK TCB = reported_tcb (${formatTcb(tcb)})`, actual: mism.join(", ") || "equal" });
  if (keyKind === "vcek") {
    const hw = info.hwId;
    const maskChip = (r.flags & 2) === 2;
    const ok = !!hw && (maskChip || equal(hw, r.chipId.subarray(0, hw.length)));
    c.add("snp.vcek_chip_mismatch", ok, { expected: `hwID = chip_id ${toHex(r.chipId).slice(0, 32)}…`, actual: hw ? toHex(hw).slice(0, 32) + "…" : "no hwID extension", detail: "VCEK belongs to another chip" });
  }

  const sig = p1363Signature(r);
  const sigOk = yield* check(sig && { alg: { name: "ECDSA", hash: "sha384", curve: "P-384" }, spki: leaf.spki, signature: sig, data: r.raw.subarray(0, SIGNED_END) });
  c.add("snp.report_signature", sigOk, { detail: sig ? `ECDSA P-384 over bytes 0..0x2A0 by the ${keyKind.toUpperCase()}` : "signature r/s have non-zero high bytes" });

  try {
    checkSnpPolicy(c, r, product, opts.policy, { expectedReportData: opts.expectedReportData });
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    c.fail("snp.policy_invalid", e.message);
  }
  return c.verdict(simulated, claims);
}


/** The checks with an asynchronous backend (WebCrypto); never throws. */
export function verifySnpWith(evidence: Uint8Array, opts: SnpVerifyOptions, env: SnpEnvironment): Promise<Verdict> {
  return guardAsync("snp", (c) => runAsync(snpChecks(c, evidence, opts, env), env.crypto));
}
