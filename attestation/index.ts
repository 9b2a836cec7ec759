// Public API of attestation/ for agent/, cli/, manager/.
export type { Check, Verdict, EvidenceKind } from "./verdict.ts";
export { verifySnp, verifySnpFetching, splitSnpEvidence, type SnpVerifyOptions } from "./snp/verify.ts";
export { parseReport, REPORT_SIZE, type SnpReport, type Product } from "./snp/report.ts";
export { buildCertTable, parseCertTable, type CertSet } from "./snp/certtable.ts";
export { verifyTdx, type TdxVerifyOptions, DEFAULT_ACCEPTED_TCB } from "./tdx/verify.ts";
export { verifySnpAsync } from "./snp/verify.ts";
export { verifyTdxAsync } from "./tdx/verify.ts";
export type { CryptoBackend, VerifyOp } from "./crypto/backend.ts";
export { parseQuote, type TdxQuote } from "./tdx/quote.ts";
export type { TdxCollateral } from "./tdx/collateral.ts";
export {
  parsePolicy, readPolicy, writePolicy, formatPolicy, setMeasurement, setHostData, setReportData, setChipId, setProduct, setTdx,
  trustSimRoot, hostDataForManifest, type AttestationPolicy,
} from "./policy.ts";
export { createProvider, detectProvider, ConfigfsTsmProvider, SevGuestProvider, SimProvider, padReportData, type Evidence, type EvidenceProvider, type ProviderKind } from "./providers/index.ts";
export { loadOrCreateSimRoot, generateSimRoot, simReport, type SimRoot, type SimOptions } from "./providers/sim.ts";
export {
  AttestedIdentity, makeAttestedCertificate, verifyAttestedCertificate, startAtlsFront, connectAttested, extractEvidence, nonceToSni, sniToNonce,
  EVIDENCE_OID, type AttestedConnection, type AtlsFront,
} from "./atls.ts";
export {
  REPORT_LABELS, reportData, atlsReportData, rpcReportData, signedEvidence, unlabelledAtlsBinding, explainAtlsMisbinding,
  type ReportContext, type Misbinding,
} from "./report-data.ts";
export { formatVerdict, verdictJson } from "./format.ts";
export { teeNonce, detectEvidenceKind, describeEvidence, verifyEvidence, validateFile, parseTime, type ValidateOptions } from "./cli.ts";
