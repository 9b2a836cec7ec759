// AMD VCEK/VLEK X.509 extensions (AMD "Versioned Chip Endorsement Key" spec): product name, the
// TCB SPLs the key was derived for, and the chip's hwID (64 bytes; 8 on Turin). Also the KDS URL.
import * as A from "../asn1.ts";
import type { Certificate } from "../certificate.ts";
import type { Product, Tcb } from "./report.ts";
import { toHex } from "../encoding.ts";

const ARC = "1.3.6.1.4.1.3704.1";
export const VCEK_OID = {
  structVersion: `${ARC}.1`,
  productName: `${ARC}.2`,
  blSPL: `${ARC}.3.1`,
  teeSPL: `${ARC}.3.2`,
  snpSPL: `${ARC}.3.3`,
  ucodeSPL: `${ARC}.3.8`,
  fmcSPL: `${ARC}.3.9`,
  hwID: `${ARC}.4`,
  cspId: `${ARC}.5`,
} as const;

export interface VcekInfo {
  productName?: string;
  tcb: Partial<Tcb>;
  hwId?: Uint8Array;
  cspId?: string;
}

function intExt(c: Certificate, oid: string): number | undefined {
  const e = c.extensions.get(oid);
  if (!e) return undefined;
  return A.intValue(A.readAll(e.value));
}

function strExt(c: Certificate, oid: string): string | undefined {
  const e = c.extensions.get(oid);
  if (!e) return undefined;
  try {
    return new TextDecoder().decode(A.value(A.readAll(e.value)));
  } catch {
    return new TextDecoder().decode(e.value);
  }
}

export function vcekInfo(c: Certificate): VcekInfo {
  const hw = c.extensions.get(VCEK_OID.hwID)?.value;
  const fmc = intExt(c, VCEK_OID.fmcSPL);
  return {
    productName: strExt(c, VCEK_OID.productName),
    tcb: {
      bootloader: intExt(c, VCEK_OID.blSPL),
      tee: intExt(c, VCEK_OID.teeSPL),
      snp: intExt(c, VCEK_OID.snpSPL),
      microcode: intExt(c, VCEK_OID.ucodeSPL),
      ...(fmc !== undefined ? { fmc } : {}),
    },
    hwId: hw,
    cspId: strExt(c, VCEK_OID.cspId),
  };
}

/** "Milan-B0" → Milan; unknown names → undefined. */
export function productFromName(name: string | undefined): Product | undefined {
  const base = name?.split("-")[0];
  return base === "Milan" || base === "Genoa" || base === "Turin" || base === "SIM" ? base : undefined;
}

/** Encodes the extensions for a VCEK we issue (the sim chain). */
export function vcekExtensions(product: string, tcb: Tcb, hwId: Uint8Array) {
  const int = (oid: string, v: number) => ({ oid, value: A.uint(v) });
  return [
    int(VCEK_OID.structVersion, 1),
    { oid: VCEK_OID.productName, value: A.ia5(product) },
    int(VCEK_OID.blSPL, tcb.bootloader),
    int(VCEK_OID.teeSPL, tcb.tee),
    int(VCEK_OID.snpSPL, tcb.snp),
    int(VCEK_OID.ucodeSPL, tcb.microcode),
    { oid: VCEK_OID.hwID, value: hwId },
  ];
}

export function kdsVcekUrl(product: Product, chipId: Uint8Array, tcb: Tcb): string {
  const hw = product === "Turin" ? chipId.subarray(0, 8) : chipId;
  const q = new URLSearchParams();
  if (product === "Turin") q.set("fmcSPL", String(tcb.fmc ?? 0));
  q.set("blSPL", String(tcb.bootloader));
  q.set("teeSPL", String(tcb.tee));
  q.set("snpSPL", String(tcb.snp));
  q.set("ucodeSPL", String(tcb.microcode));
  return `https://kdsintf.amd.com/vcek/v1/${product}/${toHex(hw)}?${q}`;
}

/** Cache file name for a VCEK: one per product, chip and reported TCB. */
export function vcekCacheName(product: Product, chipId: Uint8Array, reportedTcb: bigint): string {
  return `vcek_${product}_${toHex(product === "Turin" ? chipId.subarray(0, 8) : chipId)}_${reportedTcb.toString(16).padStart(16, "0")}.der`;
}
