import { status } from "@grpc/grpc-js";

/** An error with the gRPC status the client should see. */
export class AgentError extends Error {
  override name = "AgentError";
  constructor(readonly code: status, message: string) {
    super(message);
  }
}

export const unauthenticated = (m: string) => new AgentError(status.UNAUTHENTICATED, m);
export const permissionDenied = (m: string) => new AgentError(status.PERMISSION_DENIED, m);
export const failedPrecondition = (m: string) => new AgentError(status.FAILED_PRECONDITION, m);
export const invalidArgument = (m: string) => new AgentError(status.INVALID_ARGUMENT, m);
export const internal = (m: string) => new AgentError(status.INTERNAL, m);
