// Offline evidence rendering and validation for `attestation get -j` / `attestation validate`.
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { parseReport, REPORT_SIZE } from "../attestation/snp/report.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** A JSON-friendly view of SNP evidence (the first 0x4A0 bytes; a cert table may follow). */
export function describeEvidence(evidence: Uint8Array): Record<string, unknown> {
  const r = parseReport(evidence.subarray(0, Math.min(evidence.length, REPORT_SIZE)));
  if (!r.ok) return { error: `${r.code}: ${r.detail}`, size: evidence.length };
  const x = r.report;
  return {
    version: x.version,
    guest_svn: x.guestSvn,
    policy: `0x${x.policy.toString(16)}`,
    vmpl: x.vmpl,
    current_tcb: `0x${x.currentTcb.toString(16)}`,
    reported_tcb: `0x${x.reportedTcb.toString(16)}`,
    launch_tcb: `0x${x.launchTcb.toString(16)}`,
    report_data: hex(x.reportData),
    measurement: hex(x.measurement),
    host_data: hex(x.hostData),
    chip_id: hex(x.chipId),
    trailer_bytes: Math.max(0, evidence.length - REPORT_SIZE),
  };
}

export async function validateCommand(ctx: CliContext, file: string, _o: Record<string, string | undefined>): Promise<void> {
  const path = isAbsolute(file) ? file : resolve(ctx.cwd, file);
  try {
    readFileSync(path);
  } catch (e) {
    throw new CliError(`could not read ${file}: ${(e as Error).message}`);
  }
  throw new CliError("attestation validate: this build has no evidence verifier yet (attestation/ verifiers pending)");
}
