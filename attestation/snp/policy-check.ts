// Policy checks on a parsed (and signature-checked) SNP report. Semantics follow go-sev-guest's
// validate package: exact matches when a field is set, minima for versions/TCB, and the policy's
// guest-policy value is the most permissive one accepted. Each check has its own code.
import type { CheckList } from "../verdict.ts";
import { checkReportData, exactFieldCheck, PolicyError, policyBytes, policyU64, policyHashList, type AttestationPolicy } from "../policy-json.ts";
import { equal, isZero, toHex } from "../encoding.ts";
import { decodeTcb, formatTcb, policyAbi, policyBit, POLICY_BITS, type Product, type SnpReport, type Tcb } from "./report.ts";

const tcbAtLeast = (a: Tcb, min: Tcb) =>
  a.bootloader >= min.bootloader && a.tee >= min.tee && a.snp >= min.snp && a.microcode >= min.microcode && (a.fmc ?? 0) >= (min.fmc ?? 0);

export interface SnpPolicyOptions {
  /** Overrides policy.report_data (aTLS computes the expected value from the certificate). */
  expectedReportData?: Uint8Array;
}

/** Why Milan evidence is weaker than its signature suggests (printed with every Milan verdict). */
export const MILAN_FORGEABLE =
  "AMD EPYC Milan: SEV-SNP reports from Milan parts can be forged in software (arXiv 2605.12990, May 2026); set root_of_trust.disallow_milan in the policy to refuse them";

/** Milan evidence: refused under root_of_trust.disallow_milan, otherwise passed with the caveat. */
function checkMilan(c: CheckList, pol: AttestationPolicy | undefined) {
  const v = pol?.root_of_trust?.disallow_milan;
  if (v !== undefined && typeof v !== "boolean") throw new PolicyError(`root_of_trust.disallow_milan: expected true or false, got ${JSON.stringify(v)}`);
  const refuse = v === true;
  c.add("snp.milan_forgeable", !refuse, {
    expected: refuse ? "Genoa or Turin evidence (root_of_trust.disallow_milan)" : undefined,
    actual: refuse ? "Milan" : undefined,
    detail: MILAN_FORGEABLE,
  });
}

export function checkSnpPolicy(c: CheckList, r: SnpReport, product: Product | undefined, pol: AttestationPolicy | undefined, opts: SnpPolicyOptions = {}) {
  const p = pol?.policy ?? {};
  if (product === "Milan") checkMilan(c, pol);

  const exact = exactFieldCheck(c, "policy");

  checkReportData(c, "snp.report_data_mismatch", r.reportData, opts.expectedReportData, p.report_data, "policy.report_data");
  exact("snp.measurement_mismatch", r.measurement, p.measurement, 48, "measurement");
  exact("snp.host_data_mismatch", r.hostData, p.host_data, 32, "host_data (manifest hash)");
  exact("snp.family_id_mismatch", r.familyId, p.family_id, 16, "family_id");
  exact("snp.image_id_mismatch", r.imageId, p.image_id, 16, "image_id");
  exact("snp.report_id_mismatch", r.reportId, p.report_id, 32, "report_id");
  exact("snp.report_id_ma_mismatch", r.reportIdMa, p.report_id_ma, 32, "report_id_ma");
  exact("snp.chip_id_mismatch", r.chipId, p.chip_id, 64, "chip_id");

  if (p.vmpl !== undefined && p.vmpl !== null)
    c.add("snp.vmpl_mismatch", r.vmpl === Number(p.vmpl), { expected: String(p.vmpl), actual: String(r.vmpl), detail: "VMPL differs" });
  if (p.minimum_guest_svn !== undefined)
    c.add("snp.guest_svn_too_low", r.guestSvn >= Number(p.minimum_guest_svn), { expected: `>= ${p.minimum_guest_svn}`, actual: String(r.guestSvn) });

  // Guest policy: debug is refused unless the policy's guest policy allows it.
  const allowed = policyU64(p.policy, "policy.policy");
  const bit = (b: bigint) => policyBit(r.policy, b);
  const permits = (b: bigint) => allowed !== undefined && policyBit(allowed, b);
  c.add("snp.policy_debug", !bit(POLICY_BITS.debug) || permits(POLICY_BITS.debug), {
    expected: "debug disabled", actual: bit(POLICY_BITS.debug) ? "debug enabled" : "debug disabled", detail: "guest policy allows debugging (host can read guest memory)",
  });
  if (allowed !== undefined) {
    c.add("snp.policy_smt", !bit(POLICY_BITS.smt) || permits(POLICY_BITS.smt), { expected: "SMT not allowed", actual: "SMT allowed", detail: "guest policy allows SMT, the policy does not" });
    c.add("snp.policy_migrate_ma", !bit(POLICY_BITS.migrateMa) || permits(POLICY_BITS.migrateMa), { expected: "no migration agent", actual: "migration agent allowed" });
    c.add("snp.policy_single_socket", bit(POLICY_BITS.singleSocket) || !permits(POLICY_BITS.singleSocket), { expected: "single socket required", actual: "multi-socket allowed" });
    c.add("snp.policy_cxl", !bit(POLICY_BITS.cxlAllow) || permits(POLICY_BITS.cxlAllow), { expected: "CXL not allowed", actual: "CXL allowed" });
    const have = policyAbi(r.policy);
    const want = policyAbi(allowed);
    c.add("snp.policy_abi", have.major > want.major || (have.major === want.major && have.minor >= want.minor), { expected: `ABI >= ${want.major}.${want.minor}`, actual: `${have.major}.${have.minor}` });
  }

  const minTcb = policyU64(p.minimum_tcb, "policy.minimum_tcb");
  if (minTcb !== undefined) {
    const min = decodeTcb(minTcb, product);
    for (const [name, v] of [["current", r.currentTcb], ["committed", r.committedTcb], ["reported", r.reportedTcb]] as const) {
      const t = decodeTcb(v, product);
      c.add("snp.tcb_too_low", tcbAtLeast(t, min), { expected: `>= ${formatTcb(min)}`, actual: formatTcb(t), detail: `${name}_tcb below minimum_tcb` });
    }
  }
  const minLaunch = policyU64(p.minimum_launch_tcb, "policy.minimum_launch_tcb");
  if (minLaunch !== undefined) {
    const min = decodeTcb(minLaunch, product);
    const t = decodeTcb(r.launchTcb, product);
    c.add("snp.launch_tcb_too_low", tcbAtLeast(t, min), { expected: `>= ${formatTcb(min)}`, actual: formatTcb(t) });
  }
  if (p.minimum_build !== undefined)
    c.add("snp.build_too_low", r.currentVersion.build >= Number(p.minimum_build), { expected: `>= ${p.minimum_build}`, actual: String(r.currentVersion.build) });
  if (p.minimum_version) {
    const [maj, min] = String(p.minimum_version).split(".").map(Number);
    const v = r.currentVersion;
    c.add("snp.version_too_low", v.major > maj || (v.major === maj && v.minor >= (min || 0)), { expected: `>= ${p.minimum_version}`, actual: `${v.major}.${v.minor}` });
  }
  if (p.permit_provisional_firmware === false) {
    const cv = r.currentVersion;
    const cm = r.committedVersion;
    c.add("snp.provisional_firmware", cv.major === cm.major && cv.minor === cm.minor && cv.build === cm.build && r.currentTcb === r.committedTcb, {
      expected: "committed firmware", actual: `current ${cv.major}.${cv.minor}.${cv.build} vs committed ${cm.major}.${cm.minor}.${cm.build}`,
    });
  }

  const authorKeyEn = (r.flags & 1) === 1;
  if (p.require_author_key) c.add("snp.author_key_missing", authorKeyEn && !isZero(r.authorKeyDigest), { expected: "author key present", actual: authorKeyEn ? "present, zero digest" : "absent" });
  if (p.require_id_block) c.add("snp.id_block_missing", !isZero(r.idKeyDigest), { expected: "ID block present", actual: "no ID key digest" });
  const idKeys = policyHashList(p.trusted_id_key_hashes, "policy.trusted_id_key_hashes");
  if (idKeys?.length)
    c.add("snp.id_key_untrusted", idKeys.some((k) => equal(k, r.idKeyDigest)), { expected: `one of ${idKeys.length} trusted ID key digests`, actual: toHex(r.idKeyDigest) });
  const authorKeys = policyHashList(p.trusted_author_key_hashes, "policy.trusted_author_key_hashes");
  if (authorKeys?.length)
    c.add("snp.author_key_untrusted", authorKeys.some((k) => equal(k, r.authorKeyDigest)), { expected: `one of ${authorKeys.length} trusted author key digests`, actual: toHex(r.authorKeyDigest) });
}
