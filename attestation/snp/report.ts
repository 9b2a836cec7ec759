// AMD SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI spec, table "ATTESTATION_REPORT Structure"); all
// integers little-endian. Versions 2, 3 and 5 share the layout of the signed fields used here; v3 adds
// the CPUID family/model/stepping bytes at 0x188 that name the product.

export const REPORT_SIZE = 0x4a0;
export const SIGNED_END = 0x2a0;

export type Product = "Milan" | "Genoa" | "Turin" | "SIM";

export interface Tcb {
  fmc?: number; // Turin only
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
}

export interface SnpReport {
  raw: Uint8Array;
  version: number;
  guestSvn: number;
  policy: bigint;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  currentTcb: bigint;
  platformInfo: bigint;
  flags: number; // author_key_en bit 0, mask_chip_key bit 1, signing_key bits 2..4
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcb: bigint;
  cpuid?: { family: number; model: number; stepping: number };
  chipId: Uint8Array;
  committedTcb: bigint;
  currentVersion: { major: number; minor: number; build: number };
  committedVersion: { major: number; minor: number; build: number };
  launchTcb: bigint;
  signatureR: Uint8Array; // 72 bytes LE
  signatureS: Uint8Array;
}

export type ParseResult = { ok: true; report: SnpReport } | { ok: false; code: string; detail: string };

export const SUPPORTED_VERSIONS = [2, 3, 5];

export function parseReport(raw: Uint8Array): ParseResult {
  if (raw.length < REPORT_SIZE) return { ok: false, code: "snp.report_truncated", detail: `expected ${REPORT_SIZE} bytes, got ${raw.length}` };
  if (raw.length > REPORT_SIZE) return { ok: false, code: "snp.report_oversized", detail: `expected ${REPORT_SIZE} bytes, got ${raw.length}` };
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const u32 = (o: number) => dv.getUint32(o, true);
  const u64 = (o: number) => dv.getBigUint64(o, true);
  const b = (o: number, n: number) => raw.slice(o, o + n);
  const version = u32(0);
  if (!SUPPORTED_VERSIONS.includes(version))
    return { ok: false, code: "snp.report_version", detail: `expected report version ${SUPPORTED_VERSIONS.join("/")}, got ${version}` };
  const report: SnpReport = {
    raw,
    version,
    guestSvn: u32(0x04),
    policy: u64(0x08),
    familyId: b(0x10, 16),
    imageId: b(0x20, 16),
    vmpl: u32(0x30),
    signatureAlgo: u32(0x34),
    currentTcb: u64(0x38),
    platformInfo: u64(0x40),
    flags: u32(0x48),
    reportData: b(0x50, 64),
    measurement: b(0x90, 48),
    hostData: b(0xc0, 32),
    idKeyDigest: b(0xe0, 48),
    authorKeyDigest: b(0x110, 48),
    reportId: b(0x140, 32),
    reportIdMa: b(0x160, 32),
    reportedTcb: u64(0x180),
    cpuid: version >= 3 ? { family: raw[0x188], model: raw[0x189], stepping: raw[0x18a] } : undefined,
    chipId: b(0x1a0, 64),
    committedTcb: u64(0x1e0),
    currentVersion: { build: raw[0x1e8], minor: raw[0x1e9], major: raw[0x1ea] },
    committedVersion: { build: raw[0x1ec], minor: raw[0x1ed], major: raw[0x1ee] },
    launchTcb: u64(0x1f0),
    signatureR: b(0x2a0, 72),
    signatureS: b(0x2e8, 72),
  };
  return { ok: true, report };
}

export const signingKey = (r: SnpReport): "vcek" | "vlek" | "none" | "reserved" =>
  (["vcek", "vlek", "reserved", "reserved", "reserved", "reserved", "reserved", "none"] as const)[(r.flags >> 2) & 7];

/** Product from the v3+ CPUID bytes (family 19h: Milan models 0x00–0x0F, Genoa 0x10–0x1F; 1Ah: Turin). */
export function productFromCpuid(r: SnpReport): Product | undefined {
  if (!r.cpuid) return undefined;
  const { family, model } = r.cpuid;
  if (family === 0x19) return model < 0x10 ? "Milan" : model < 0x20 ? "Genoa" : model >= 0xa0 ? "Genoa" : undefined;
  if (family === 0x1a) return "Turin";
  return undefined;
}

/** TCB_VERSION decode: Turin moved the fields (FMC, bootloader, TEE, SNP in bytes 0–3). */
export function decodeTcb(v: bigint, product: Product | undefined): Tcb {
  const byte = (i: number) => Number((v >> BigInt(8 * i)) & 0xffn);
  if (product === "Turin") return { fmc: byte(0), bootloader: byte(1), tee: byte(2), snp: byte(3), microcode: byte(7) };
  return { bootloader: byte(0), tee: byte(1), snp: byte(6), microcode: byte(7) };
}

export function encodeTcb(t: Tcb, product: Product | undefined): bigint {
  const bytes = new Array(8).fill(0);
  if (product === "Turin") [bytes[0], bytes[1], bytes[2], bytes[3]] = [t.fmc ?? 0, t.bootloader, t.tee, t.snp];
  else [bytes[0], bytes[1], bytes[6]] = [t.bootloader, t.tee, t.snp];
  bytes[7] = t.microcode;
  return bytes.reduce((acc: bigint, x: number, i: number) => acc | (BigInt(x) << BigInt(8 * i)), 0n);
}

export const formatTcb = (t: Tcb) =>
  `${t.fmc !== undefined ? `fmc=${t.fmc} ` : ""}bl=${t.bootloader} tee=${t.tee} snp=${t.snp} ucode=${t.microcode}`;

/** Signature r,s: 72-byte little-endian each → big-endian 48-byte halves (IEEE-P1363 for P-384). */
export function p1363Signature(r: SnpReport): Uint8Array | undefined {
  const out = new Uint8Array(96);
  for (const [src, off] of [[r.signatureR, 0], [r.signatureS, 48]] as const) {
    if (src.subarray(48).some((x) => x !== 0)) return undefined;
    for (let i = 0; i < 48; i++) out[off + i] = src[47 - i];
  }
  return out;
}

/** Guest policy bits (ABI spec "Guest Policy Structure"). */
export const POLICY_BITS = {
  smt: 16n,
  reserved1: 17n,
  migrateMa: 18n,
  debug: 19n,
  singleSocket: 20n,
  cxlAllow: 21n,
  memAes256Xts: 22n,
  raplDis: 23n,
  ciphertextHiding: 24n,
  pageSwapDisable: 25n,
} as const;

export const policyBit = (p: bigint, bit: bigint) => ((p >> bit) & 1n) === 1n;
export const policyAbi = (p: bigint) => ({ major: Number((p >> 8n) & 0xffn), minor: Number(p & 0xffn) });
