// Intel SGX PCK certificate extension (OID 1.2.840.113741.1.13.1): FMSPC, PCE-ID and the TCB
// (16 CPU SVN components + PCESVN) the certificate was issued for.
import * as A from "../asn1.ts";
import type { Certificate } from "../certificate.ts";

const SGX = "1.2.840.113741.1.13.1";

export interface PckInfo {
  fmspc?: Uint8Array;
  pceId?: Uint8Array;
  tcbComponents: number[]; // 16
  pceSvn?: number;
}

export function pckInfo(c: Certificate): PckInfo {
  const out: PckInfo = { tcbComponents: [] };
  const ext = c.extensions.get(SGX);
  if (!ext) return out;
  for (const item of A.children(A.readAll(ext.value))) {
    const [o, v] = A.children(item);
    const id = A.decodeOid(o);
    if (id === `${SGX}.4`) out.fmspc = A.value(v);
    else if (id === `${SGX}.3`) out.pceId = A.value(v);
    else if (id === `${SGX}.2`)
      for (const comp of A.children(v)) {
        const [co, cv] = A.children(comp);
        const n = Number(A.decodeOid(co).split(".").pop());
        if (n >= 1 && n <= 16) out.tcbComponents[n - 1] = A.intValue(cv);
        else if (n === 17) out.pceSvn = A.intValue(cv);
      }
  }
  return out;
}
