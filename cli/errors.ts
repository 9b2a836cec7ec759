// gRPC failures turned into sentences a user can act on. The raw status stays available with -v.
import { status as Status } from "@grpc/grpc-js";
import { escapeControl } from "../protocol/text.ts";

export interface GrpcLikeError {
  code?: number;
  details?: string;
  message?: string;
}

/** A user-facing error: the CLI prints its message (no stack) and exits with `exitCode`. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1, override readonly cause?: unknown) {
    super(message);
    this.name = "CliError";
  }
}

function isGrpcError(e: unknown): e is GrpcLikeError & { code: number } {
  return typeof e === "object" && e !== null && typeof (e as GrpcLikeError).code === "number";
}

/**
 * Maps a gRPC status to clear text; `what` names the operation ("upload the algorithm"). The agent's
 * details are its own words, possibly hostile: control characters are escaped, and they stay one line.
 */
export function friendlyGrpcError(e: unknown, what: string, target: string): string {
  if (!isGrpcError(e)) return `could not ${what}: ${escapeControl((e as Error)?.message ?? String(e))}`;
  const details = escapeControl(e.details || e.message || "");
  switch (e.code) {
    case Status.UNAVAILABLE:
      return `could not ${what}: the agent is unavailable at ${target} (${details}). Check AGENT_GRPC_URL, that the computation is running, and the TLS settings.`;
    case Status.UNAUTHENTICATED:
      return `could not ${what}: the agent did not accept your signature (${details}). Use the private key whose public key the computation manifest lists for this role.`;
    case Status.PERMISSION_DENIED:
      return `could not ${what}: permission denied (${details}). Your key is not declared for this role in the manifest.`;
    case Status.FAILED_PRECONDITION:
      return `could not ${what}: the computation is not ready for this step (${details}).`;
    case Status.INVALID_ARGUMENT:
      return `could not ${what}: the agent rejected the request (${details}).`;
    case Status.DEADLINE_EXCEEDED:
      return `could not ${what}: no answer from the agent at ${target} in time (${details}). Raise AGENT_GRPC_TIMEOUT for large files.`;
    case Status.NOT_FOUND:
      return `could not ${what}: not found (${details}).`;
    case Status.RESOURCE_EXHAUSTED:
      return `could not ${what}: too large or too many requests (${details}).`;
    case Status.CANCELLED:
      return `could not ${what}: the call was cancelled (${details}).`;
    default:
      return `could not ${what}: ${Status[e.code] ?? `status ${e.code}`}: ${details}`;
  }
}
