// SEV-SNP report through /dev/sev-guest (SNP_GET_REPORT ioctl) for kernels without configfs-tsm.
// Not testable off SEV-SNP hardware; kept minimal and separate. Returns the bare report (no
// certificate table: the verifier takes the VCEK from its cache or AMD KDS).
import { dlopen, FFIType, ptr } from "bun:ffi";
import { REPORT_SIZE } from "../snp/report.ts";
import { padReportData, type Evidence, type EvidenceProvider } from "./types.ts";

export const SEV_GUEST_DEVICE = "/dev/sev-guest";
// _IOWR('S', 0x0, struct snp_guest_request_ioctl /* 32 bytes */)
const SNP_GET_REPORT = 0xc0205300;
const O_RDWR = 2;

export class SevGuestProvider implements EvidenceProvider {
  readonly kind = "snp" as const;
  constructor(private readonly vmpl = 0, private readonly device = SEV_GUEST_DEVICE) {}

  async getEvidence(reportData: Uint8Array): Promise<Evidence> {
    const libc = dlopen("libc.so.6", {
      open: { args: [FFIType.cstring, FFIType.i32], returns: FFIType.i32 },
      ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
      close: { args: [FFIType.i32], returns: FFIType.i32 },
    });
    try {
      const fd = libc.symbols.open(ptr(Buffer.from(this.device + "\0")), O_RDWR);
      if (fd < 0) throw new Error(`${this.device}: open failed (is this an SEV-SNP guest with the sev-guest driver?)`);
      try {
        const req = new Uint8Array(96); // snp_report_req { user_data[64]; u32 vmpl; rsvd[28] }
        req.set(padReportData(reportData));
        new DataView(req.buffer).setUint32(64, this.vmpl, true);
        const resp = new Uint8Array(4000); // snp_report_resp: MSG_REPORT_RSP { status, size, rsvd[24], report }
        const ioc = new Uint8Array(32); // snp_guest_request_ioctl { u8 msg_version; u64 req; u64 resp; u64 exitinfo2 }
        const dv = new DataView(ioc.buffer);
        ioc[0] = 1;
        dv.setBigUint64(8, BigInt(ptr(req)), true);
        dv.setBigUint64(16, BigInt(ptr(resp)), true);
        const rc = libc.symbols.ioctl(fd, SNP_GET_REPORT, ptr(ioc));
        const rdv = new DataView(resp.buffer);
        if (rc < 0) throw new Error(`SNP_GET_REPORT failed: exitinfo2=0x${dv.getBigUint64(24, true).toString(16)}`);
        const status = rdv.getUint32(0, true);
        const size = rdv.getUint32(4, true);
        if (status !== 0 || size < REPORT_SIZE) throw new Error(`SNP_GET_REPORT: expected status 0 and a ${REPORT_SIZE}-byte report, got status ${status}, size ${size}`);
        return { kind: "snp", data: resp.slice(32, 32 + REPORT_SIZE), source: "sev-guest-ioctl", simulated: false };
      } finally {
        libc.symbols.close(fd);
      }
    } finally {
      libc.close();
    }
  }
}
