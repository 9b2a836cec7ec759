// The manager as the secure processor of the `sim` provider: a guest without a TEE sends its report
// data up the events channel (ReportRequest) and gets back evidence (sim SNP report ‖ cert table)
// whose measurement and host_data the manager fills in from what it launched — the guest chooses
// neither. The measurement is the one the QEMU backend computed from the booted files and command
// line (manager/measurement.ts), host_data is the manifest hash the VM was started with.
import { SimProvider, loadOrCreateSimRoot, type SimRoot } from "../attestation/providers/sim.ts";
import type { VmInfo } from "./backend.ts";

export interface SimReportRequest {
  request_id: number;
  report_data: Uint8Array;
}

/** Fields of events.proto ReportResponse (sent down the manifest channel as HostMessage.report_response). */
export interface SimReportResponse {
  request_id: number;
  report: Uint8Array;
  error: string;
}

/** The 48-byte launch measurement a backend recorded for this VM, if it has one. */
export function launchMeasurement(info: VmInfo): Uint8Array | undefined {
  const m = (info.extra as { measurement?: unknown } | undefined)?.measurement;
  if (typeof m !== "string" || !/^[0-9a-f]{96}$/.test(m)) return undefined;
  return new Uint8Array(Buffer.from(m, "hex"));
}

export class SimSecureProcessor {
  constructor(readonly root: SimRoot) {}

  /** Sim root persisted in the manager's state dir, so verifiers can pin it across restarts. */
  static fromStateDir(dir: string): SimSecureProcessor {
    return new SimSecureProcessor(loadOrCreateSimRoot(dir));
  }

  /** Never throws: a refused request becomes a response with `error` set. */
  async answer(info: VmInfo, req: SimReportRequest): Promise<SimReportResponse> {
    const fail = (error: string): SimReportResponse => ({ request_id: req.request_id, report: new Uint8Array(0), error });
    const measurement = launchMeasurement(info);
    if (!measurement) return fail(`sim attestation: the ${info.backend} backend recorded no launch measurement for VM ${info.id}`);
    if (!/^[0-9a-f]{64}$/.test(info.manifestHash)) return fail(`sim attestation: expected a 32-byte hex manifest hash for VM ${info.id}, got ${JSON.stringify(info.manifestHash)}`);
    const reportData = req.report_data ?? new Uint8Array(0);
    if (reportData.length > 64) return fail(`sim attestation: report data must be at most 64 bytes, got ${reportData.length}`);
    try {
      const hostData = new Uint8Array(Buffer.from(info.manifestHash, "hex"));
      const ev = await new SimProvider({ root: this.root, measurement, hostData }).getEvidence(reportData);
      return { request_id: req.request_id, report: ev.data, error: "" };
    } catch (e) {
      return fail(`sim attestation: ${(e as Error).message}`);
    }
  }
}
