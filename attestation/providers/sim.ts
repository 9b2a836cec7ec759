// `sim` provider for machines without a TEE: an SEV-SNP-shaped report (real layout) signed by a
// software VCEK (ECDSA P-384) chained to a locally generated sim ARK → ASK (RSA-PSS SHA-384, real
// X.509). Keys persist in a state dir so a policy can pin the sim ARK across restarts. Verifiers
// trust it only when the policy names the sim root, and label every verdict SIMULATED.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign as cryptoSign, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { buildCertificate, name, basicConstraintsCA, OID } from "../x509.ts";
import { derToPem, fromBase64, toBase64 } from "../bytes.ts";
import { buildCertTable } from "../snp/certtable.ts";
import { encodeTcb, REPORT_SIZE, SIGNED_END, type Tcb } from "../snp/report.ts";
import { vcekExtensions } from "../snp/vcek.ts";
import { padReportData, type Evidence, type EvidenceProvider } from "./types.ts";

export interface SimRoot {
  arkDer: Uint8Array;
  askDer: Uint8Array;
  vcekDer: Uint8Array;
  vcekKey: KeyObject;
  chipId: Uint8Array;
  tcb: Tcb;
  /** SHA-256 hex of the ARK DER: what a policy pins (root_of_trust.sim_ark_sha256). */
  arkSha256: string;
  arkPem: string;
}

const STATE_FILE = "sim-attestation.json";
const DEFAULT_TCB: Tcb = { bootloader: 4, tee: 0, snp: 22, microcode: 213 };

function spkiOf(k: KeyObject): Uint8Array {
  return new Uint8Array(k.export({ format: "der", type: "spki" }));
}

/** Generates a fresh sim chain (RSA keys: 2048 bits keeps start-up fast; the chain shape is AMD's). */
export function generateSimRoot(tcb: Tcb = DEFAULT_TCB, rsaBits = 2048): SimRoot & { arkKeyPem: string; askKeyPem: string } {
  const ark = generateKeyPairSync("rsa", { modulusLength: rsaBits });
  const ask = generateKeyPairSync("rsa", { modulusLength: rsaBits });
  const vcek = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const chipId = new Uint8Array(randomBytes(64));
  const now = new Date();
  const notBefore = new Date(now.getTime() - 24 * 3600e3);
  const notAfter = new Date(Date.UTC(now.getUTCFullYear() + 25, 0, 1));
  const dn = (cn: string) => name([["OU", "Engineering"], ["C", "US"], ["O", "Cocos on Bun (SIMULATED)"], ["CN", cn]]);
  const caExt = [{ oid: OID.basicConstraints, critical: true, value: basicConstraintsCA(true) }];
  const arkDer = buildCertificate({ serial: 1, issuer: dn("ARK-SIM"), subject: dn("ARK-SIM"), notBefore, notAfter, spki: spkiOf(ark.publicKey), extensions: caExt, signer: { key: ark.privateKey, alg: "rsa-pss-sha384" } });
  const askDer = buildCertificate({ serial: 2, issuer: dn("ARK-SIM"), subject: dn("SEV-SIM"), notBefore, notAfter, spki: spkiOf(ask.publicKey), extensions: caExt, signer: { key: ark.privateKey, alg: "rsa-pss-sha384" } });
  const vcekDer = buildCertificate({
    serial: 3, issuer: dn("SEV-SIM"), subject: dn("SEV-VCEK-SIM"), notBefore, notAfter, spki: spkiOf(vcek.publicKey),
    extensions: vcekExtensions("SIM", tcb, chipId), signer: { key: ask.privateKey, alg: "rsa-pss-sha384" },
  });
  const pem = (k: KeyObject) => k.export({ format: "pem", type: "pkcs8" }) as string;
  return {
    arkDer, askDer, vcekDer, vcekKey: vcek.privateKey, chipId, tcb,
    arkSha256: createHash("sha256").update(arkDer).digest("hex"),
    arkPem: derToPem(arkDer),
    arkKeyPem: pem(ark.privateKey),
    askKeyPem: pem(ask.privateKey),
  };
}

/** Loads the sim chain from `stateDir`, creating and persisting it (mode 0600) on first use. */
export function loadOrCreateSimRoot(stateDir?: string): SimRoot {
  if (stateDir) {
    const f = join(stateDir, STATE_FILE);
    if (existsSync(f)) {
      const s = JSON.parse(readFileSync(f, "utf8"));
      const arkDer = fromBase64(s.ark);
      return {
        arkDer, askDer: fromBase64(s.ask), vcekDer: fromBase64(s.vcek), vcekKey: createPrivateKey(s.vcek_key),
        chipId: fromBase64(s.chip_id), tcb: s.tcb, arkSha256: createHash("sha256").update(arkDer).digest("hex"), arkPem: derToPem(arkDer),
      };
    }
  }
  const r = generateSimRoot();
  if (stateDir) {
    mkdirSync(stateDir, { recursive: true });
    const f = join(stateDir, STATE_FILE);
    const body = {
      note: "SIMULATED attestation root for machines without a TEE; never trust it for real workloads",
      ark: toBase64(r.arkDer), ask: toBase64(r.askDer), vcek: toBase64(r.vcekDer),
      ark_key: r.arkKeyPem, ask_key: r.askKeyPem, vcek_key: r.vcekKey.export({ format: "pem", type: "pkcs8" }),
      chip_id: toBase64(r.chipId), tcb: r.tcb,
    };
    writeFileSync(f + ".tmp", JSON.stringify(body, null, 2), { mode: 0o600 });
    renameSync(f + ".tmp", f);
  }
  return r;
}

export interface SimOptions {
  stateDir?: string;
  root?: SimRoot;
  /** 48 bytes: e.g. SHA-384 of the guest image / agent binary. */
  measurement?: Uint8Array;
  /** 32 bytes: the manifest hash (SHA3-256). */
  hostData?: Uint8Array;
  policy?: bigint; // default 0x30000 (SMT allowed, reserved bit), debug off
  vmpl?: number;
  guestSvn?: number;
  familyId?: Uint8Array;
  imageId?: Uint8Array;
  idKeyDigest?: Uint8Array;
  authorKeyDigest?: Uint8Array;
  reportId?: Uint8Array;
  /** Firmware version (major, minor, build). */
  firmware?: { major: number; minor: number; build: number };
}

function put(dst: Uint8Array, off: number, src: Uint8Array | undefined, len: number, what: string) {
  if (!src) return;
  if (src.length !== len) throw new Error(`sim report: ${what} must be ${len} bytes, got ${src.length}`);
  dst.set(src, off);
}

/** Builds and signs one SNP-shaped report (version 3 layout). */
export function simReport(root: SimRoot, reportData: Uint8Array, o: SimOptions = {}): Uint8Array {
  const r = new Uint8Array(REPORT_SIZE);
  const dv = new DataView(r.buffer);
  const tcb = encodeTcb(root.tcb, undefined);
  const fw = o.firmware ?? { major: 1, minor: 55, build: 21 };
  dv.setUint32(0x00, 3, true);
  dv.setUint32(0x04, o.guestSvn ?? 0, true);
  dv.setBigUint64(0x08, o.policy ?? 0x30000n, true);
  put(r, 0x10, o.familyId, 16, "family_id");
  put(r, 0x20, o.imageId, 16, "image_id");
  dv.setUint32(0x30, o.vmpl ?? 0, true);
  dv.setUint32(0x34, 1, true); // ECDSA P-384 with SHA-384
  dv.setBigUint64(0x38, tcb, true);
  dv.setUint32(0x48, o.authorKeyDigest ? 1 : 0, true); // signing key 0 = VCEK
  put(r, 0x50, padReportData(reportData), 64, "report_data");
  put(r, 0x90, o.measurement, 48, "measurement");
  put(r, 0xc0, o.hostData, 32, "host_data");
  put(r, 0xe0, o.idKeyDigest, 48, "id_key_digest");
  put(r, 0x110, o.authorKeyDigest, 48, "author_key_digest");
  put(r, 0x140, o.reportId ?? new Uint8Array(randomBytes(32)), 32, "report_id");
  r.fill(0xff, 0x160, 0x180); // report_id_ma: no migration agent
  dv.setBigUint64(0x180, tcb, true);
  r.set(root.chipId, 0x1a0);
  dv.setBigUint64(0x1e0, tcb, true);
  r[0x1e8] = fw.build; r[0x1e9] = fw.minor; r[0x1ea] = fw.major;
  r[0x1ec] = fw.build; r[0x1ed] = fw.minor; r[0x1ee] = fw.major;
  dv.setBigUint64(0x1f0, tcb, true);
  const sig = new Uint8Array(cryptoSign("sha384", r.subarray(0, SIGNED_END), { key: root.vcekKey, dsaEncoding: "ieee-p1363" }));
  for (let i = 0; i < 48; i++) {
    r[0x2a0 + i] = sig[47 - i];
    r[0x2e8 + i] = sig[95 - i];
  }
  return r;
}

export class SimProvider implements EvidenceProvider {
  readonly kind = "sim" as const;
  readonly root: SimRoot;
  constructor(private readonly opts: SimOptions = {}) {
    this.root = opts.root ?? loadOrCreateSimRoot(opts.stateDir);
  }
  async getEvidence(reportData: Uint8Array): Promise<Evidence> {
    const report = simReport(this.root, reportData, this.opts);
    const table = buildCertTable({ ark: this.root.arkDer, ask: this.root.askDer, vcek: this.root.vcekDer });
    const data = new Uint8Array(report.length + table.length);
    data.set(report);
    data.set(table, report.length);
    return { kind: "sim", data, source: "sim", simulated: true };
  }
}
