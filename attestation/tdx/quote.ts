// Intel TDX DCAP quote v4/v5 (Intel "TDX DCAP Quoting Library API", Appendix: quote format).
// Header 48 B; v4 body = TD report 584 B at 48; v5 = body type u16 + size u32 at 48, body at 54
// (type 2: TDX 1.0, 584 B; type 3: TDX 1.5, 648 B). Then u32 signature-data length and the
// ECDSA-P256 signature data: sig(64) ‖ attestation key(64) ‖ certification data (type u16, size u32).
// Type 6 (QE report certification data) = QE report(384) ‖ sig(64) ‖ auth len u16 ‖ auth ‖ nested
// certification data, normally type 5 (PCK chain PEM). Trailing bytes after the quote are ignored.

export interface TdReport {
  teeTcbSvn: Uint8Array; // 16
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array; // 8
  tdAttributes: Uint8Array; // 8
  xfam: Uint8Array; // 8
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmr: Uint8Array[]; // 4 × 48
  reportData: Uint8Array; // 64
  teeTcbSvn2?: Uint8Array;
  mrServiceTd?: Uint8Array;
}

export interface QeReport {
  raw: Uint8Array; // 384
  cpuSvn: Uint8Array;
  miscSelect: number;
  attributes: Uint8Array; // 16
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  reportData: Uint8Array; // 64
}

export interface TdxQuote {
  version: number;
  attKeyType: number;
  teeType: number;
  qeVendorId: Uint8Array;
  bodyType: number;
  body: TdReport;
  signedRegion: Uint8Array; // header ‖ (v5 descriptor) ‖ body
  signature: Uint8Array; // 64, r ‖ s
  attestationKey: Uint8Array; // 64, x ‖ y
  outerCertType: number;
  qeReport: QeReport;
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  certType: number;
  certData: Uint8Array;
  totalLength: number;
}

export type QuoteResult = { ok: true; quote: TdxQuote } | { ok: false; code: string; detail: string };

const TD_REPORT_10 = 584;
const TD_REPORT_15 = 648;

function parseTdReport(b: Uint8Array): TdReport {
  const s = (o: number, n: number) => b.slice(o, o + n);
  const r: TdReport = {
    teeTcbSvn: s(0, 16),
    mrSeam: s(16, 48),
    mrSignerSeam: s(64, 48),
    seamAttributes: s(112, 8),
    tdAttributes: s(120, 8),
    xfam: s(128, 8),
    mrTd: s(136, 48),
    mrConfigId: s(184, 48),
    mrOwner: s(232, 48),
    mrOwnerConfig: s(280, 48),
    rtmr: [0, 1, 2, 3].map((i) => s(328 + 48 * i, 48)),
    reportData: s(520, 64),
  };
  if (b.length >= TD_REPORT_15) {
    r.teeTcbSvn2 = s(584, 16);
    r.mrServiceTd = s(600, 48);
  }
  return r;
}

export function parseQeReport(b: Uint8Array): QeReport {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    raw: b.slice(0, 384),
    cpuSvn: b.slice(0, 16),
    miscSelect: dv.getUint32(16, true),
    attributes: b.slice(48, 64),
    mrEnclave: b.slice(64, 96),
    mrSigner: b.slice(128, 160),
    isvProdId: dv.getUint16(256, true),
    isvSvn: dv.getUint16(258, true),
    reportData: b.slice(320, 384),
  };
}

export function parseQuote(q: Uint8Array): QuoteResult {
  const need = (n: number, what: string): QuoteResult | undefined =>
    n > q.length ? { ok: false, code: "tdx.quote_truncated", detail: `${what} needs ${n} bytes, quote has ${q.length}` } : undefined;
  let e = need(48, "header");
  if (e) return e;
  const dv = new DataView(q.buffer, q.byteOffset, q.byteLength);
  const version = dv.getUint16(0, true);
  const attKeyType = dv.getUint16(2, true);
  const teeType = dv.getUint32(4, true);
  if (version !== 4 && version !== 5) return { ok: false, code: "tdx.quote_version", detail: `expected quote version 4 or 5, got ${version}` };
  if (teeType !== 0x81) return { ok: false, code: "tdx.tee_type", detail: `expected TEE type 0x81 (TDX), got 0x${teeType.toString(16)}` };
  if (attKeyType !== 2) return { ok: false, code: "tdx.att_key_type", detail: `expected attestation key type 2 (ECDSA P-256), got ${attKeyType}` };
  let bodyOff = 48;
  let bodyLen = TD_REPORT_10;
  let bodyType = 2;
  if (version === 5) {
    if ((e = need(54, "v5 body descriptor"))) return e;
    bodyType = dv.getUint16(48, true);
    bodyLen = dv.getUint32(50, true);
    bodyOff = 54;
    const want = bodyType === 2 ? TD_REPORT_10 : bodyType === 3 ? TD_REPORT_15 : -1;
    if (want < 0 || bodyLen !== want)
      return { ok: false, code: "tdx.body_type", detail: `expected body type 2 (584 B) or 3 (648 B), got type ${bodyType} with ${bodyLen} B` };
  }
  const sigLenOff = bodyOff + bodyLen;
  if ((e = need(sigLenOff + 4, "signature data length"))) return e;
  const sigLen = dv.getUint32(sigLenOff, true);
  const sd = sigLenOff + 4;
  if ((e = need(sd + sigLen, "signature data"))) return e;
  if (sigLen < 134) return { ok: false, code: "tdx.quote_truncated", detail: `signature data of ${sigLen} B is shorter than the 134 B minimum` };
  const end = sd + sigLen;
  const outerCertType = dv.getUint16(sd + 128, true);
  const outerSize = dv.getUint32(sd + 130, true);
  const od = sd + 134;
  if (od + outerSize > end) return { ok: false, code: "tdx.quote_truncated", detail: `certification data wants ${outerSize} B, ${end - od} left` };
  if (outerCertType !== 6)
    return { ok: false, code: "tdx.cert_data_type", detail: `expected certification data type 6 (QE report certification data), got ${outerCertType}` };
  if (outerSize < 384 + 64 + 2) return { ok: false, code: "tdx.quote_truncated", detail: `QE report certification data of ${outerSize} B too short` };
  const authLen = dv.getUint16(od + 448, true);
  const ic = od + 450 + authLen;
  if (ic + 6 > od + outerSize) return { ok: false, code: "tdx.quote_truncated", detail: `QE auth data of ${authLen} B overruns the certification data` };
  const certType = dv.getUint16(ic, true);
  const certSize = dv.getUint32(ic + 2, true);
  if (ic + 6 + certSize > od + outerSize) return { ok: false, code: "tdx.quote_truncated", detail: `PCK certification data wants ${certSize} B, ${od + outerSize - ic - 6} left` };
  if (certType !== 5)
    return { ok: false, code: "tdx.cert_data_type", detail: `expected nested certification data type 5 (PCK certificate chain), got ${certType}` };
  return {
    ok: true,
    quote: {
      version,
      attKeyType,
      teeType,
      qeVendorId: q.slice(12, 28),
      bodyType,
      body: parseTdReport(q.subarray(bodyOff, bodyOff + bodyLen)),
      signedRegion: q.slice(0, bodyOff + bodyLen),
      signature: q.slice(sd, sd + 64),
      attestationKey: q.slice(sd + 64, sd + 128),
      outerCertType,
      qeReport: parseQeReport(q.subarray(od, od + 384)),
      qeReportSignature: q.slice(od + 384, od + 448),
      qeAuthData: q.slice(od + 450, od + 450 + authLen),
      certType,
      certData: q.slice(ic + 6, ic + 6 + certSize),
      totalLength: end,
    },
  };
}

/** TD attributes bit 0 (TUD.DEBUG): the TD is debuggable and its memory is readable by the host. */
export const tdDebug = (r: TdReport) => (r.tdAttributes[0] & 1) === 1;

/** SNP-shaped vs TDX quote, from the first bytes (quote: version 4/5, key type 2, TEE 0x81). */
export function detectEvidenceKind(b: Uint8Array): "snp" | "tdx" {
  if (b.length >= 8) {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const v = dv.getUint16(0, true);
    if ((v === 4 || v === 5) && dv.getUint16(2, true) === 2 && dv.getUint32(4, true) === 0x81) return "tdx";
  }
  return "snp";
}
