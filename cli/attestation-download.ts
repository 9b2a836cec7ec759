// `attestation get`'s download: the evidence streams from the agent straight to disk under a size
// cap (the agent is not trusted to be small), and the output file is created exclusively — a
// symlink planted at its name is never followed, an existing file is kept unless --force.
import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { closeSync, constants, linkSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { escapeControl } from "../protocol/text.ts";
import type { AgentConnection } from "./agent-client.ts";
import { CliError, friendlyGrpcError } from "./errors.ts";
import type { Progress } from "./progress.ts";

export const DEFAULT_MAX_EVIDENCE_BYTES = 16 * 1024 * 1024;

/** `--max-size`: bytes, or with a KiB/MiB/GiB suffix. */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+)\s*(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  const unit: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
  const n = m ? Number(m[1]) * unit[(m[2] ?? "b").toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError(`${what}: expected a size like 16MiB or 1048576, got ${JSON.stringify(text)}`);
  return n;
}

/** A fresh file next to `dest` that nobody else can have prepared: O_CREAT|O_EXCL|O_NOFOLLOW. */
function openPart(dest: string): { path: string; fd: number } {
  const path = `${dest}.part-${randomBytes(6).toString("hex")}`;
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  return { path, fd };
}

/** Moves the finished part file to `dest`: without force, link(2) fails on any existing name (symlinks too). */
function commit(part: string, dest: string, force: boolean): void {
  if (force) return renameSync(part, dest); // replaces a symlink itself, never its target
  try {
    linkSync(part, dest);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new CliError(`${dest} already exists; pass --force to overwrite it`);
    throw e;
  } finally {
    rmSync(part, { force: true });
  }
}

export function writeExclusive(dest: string, bytes: Uint8Array, force: boolean): void {
  const part = openPart(dest);
  try {
    writeSync(part.fd, bytes);
    closeSync(part.fd);
    commit(part.path, dest, force);
  } catch (e) {
    rmSync(part.path, { force: true });
    throw e;
  }
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
  const part = openPart(o.dest);
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
        writeSync(part.fd, msg.file);
        o.bar.add(msg.file.byteLength);
      });
      call.on("error", (e) => reject(new CliError(escapeControl(friendlyGrpcError(e, "fetch the attestation report", o.target)), 1, e)));
      call.on("end", resolve);
    });
    if (announced !== undefined && announced !== written) throw new CliError(`the evidence stream ended after ${written} bytes, but the agent announced ${announced}`);
    closeSync(part.fd);
    commit(part.path, o.dest, o.force);
    return written;
  } catch (e) {
    try {
      closeSync(part.fd);
    } catch {}
    rmSync(part.path, { force: true });
    throw e;
  } finally {
    o.bar.stop();
  }
}

/** The first `max` bytes of a file (evidence headers: report data, quote body). */
export function readHead(path: string, max: number): Uint8Array {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const b = new Uint8Array(max);
    return b.subarray(0, readSync(fd, b, 0, max, 0));
  } finally {
    closeSync(fd);
  }
}
