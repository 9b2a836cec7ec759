// `attestation get`'s download: the evidence streams from the agent straight to disk under a size
// cap (the agent is not trusted to be small), and the output file is created exclusively — a
// symlink planted at its name is never followed, an existing file is kept unless --force.
import * as grpc from "@grpc/grpc-js";
import { closeSync, rmSync, writeSync } from "node:fs";
import { escapeControl } from "../protocol/text.ts";
import type { AgentConnection } from "./agent-client.ts";
import { CliError, friendlyGrpcError } from "./errors.ts";
import { createExclusive, publish, temporaryPathFor, writeNewFile } from "./output-file.ts";
import type { Progress } from "./progress.ts";

export const DEFAULT_MAX_EVIDENCE_BYTES = 16 * 1024 * 1024;

/** Writes a small evidence-side file (the JSON rendering) the CLI's safe way. */
export function writeExclusive(dest: string, bytes: Uint8Array, force: boolean): void {
  writeNewFile(dest, bytes, 0o644, force, "the file");
}

export interface EvidenceDownload {
  dest: string;
  maxBytes: number;
  force: boolean;
  bar: Progress;
  target: string;
}

/**
 * Streams the Attestation RPC's answer into `dest`; returns its size. Refuses an announced
 * `file-size` over the cap, stops at the cap, checks the total against the announcement, and
 * leaves no partial file behind on any failure.
 */
export async function downloadEvidence(conn: AgentConnection, request: Record<string, unknown>, o: EvidenceDownload): Promise<number> {
  const tmp = temporaryPathFor(o.dest);
  const fd = createExclusive(tmp, 0o644);
  const call = conn.client.Attestation(request, new grpc.Metadata()) as grpc.ClientReadableStream<{ file: Uint8Array }>;
  let written = 0;
  let announced: number | undefined;
  const raise = "raise the limit with --max-size";
  try {
    await new Promise<void>((resolve, reject) => {
      const refuse = (msg: string) => {
        call.removeAllListeners("data");
        call.on("error", () => {});
        call.cancel();
        reject(new CliError(msg));
      };
      call.on("metadata", (m: grpc.Metadata) => {
        const v = m.get("file-size")[0];
        if (v === undefined) return;
        announced = Number(v);
        if (!Number.isSafeInteger(announced) || announced < 0) return refuse(`the agent sent a bad file-size header ${JSON.stringify(escapeControl(String(v)))}: expected a byte count`);
        if (announced > o.maxBytes) return refuse(`the agent announced ${announced} bytes of evidence, more than the limit of ${o.maxBytes}; ${raise}`);
        o.bar.start(announced);
      });
      call.on("data", (msg: { file: Uint8Array }) => {
        written += msg.file.byteLength;
        if (written > o.maxBytes) return refuse(`the agent sent more than ${o.maxBytes} bytes of evidence; stopped there (${raise})`);
        for (let off = 0; off < msg.file.byteLength; ) off += writeSync(fd, msg.file, off);
        o.bar.add(msg.file.byteLength);
      });
      call.on("error", (e) => reject(new CliError(escapeControl(friendlyGrpcError(e, "fetch the attestation report", o.target)), 1, e)));
      call.on("end", resolve);
    });
    if (announced !== undefined && announced !== written) throw new CliError(`the evidence stream ended after ${written} bytes, but the agent announced ${announced}`);
    closeSync(fd);
    publish(tmp, o.dest, o.force, "the evidence file");
    return written;
  } catch (e) {
    try {
      closeSync(fd);
    } catch {}
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    o.bar.stop();
  }
}
