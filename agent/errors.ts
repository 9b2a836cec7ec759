import { status } from "@grpc/grpc-js";

/**
 * An error with the gRPC status the client should see. `hostMessage` is what the agent's own log (which
 * the host reads) says instead, when the message quotes upload content (zip entry names, parser text).
 */
export class AgentError extends Error {
  override name = "AgentError";
  readonly hostMessage: string;
  constructor(readonly code: status, message: string, hostMessage?: string) {
    super(message);
    this.hostMessage = hostMessage ?? message;
  }
}

export const unauthenticated = (m: string) => new AgentError(status.UNAUTHENTICATED, m);
export const permissionDenied = (m: string) => new AgentError(status.PERMISSION_DENIED, m);
export const failedPrecondition = (m: string) => new AgentError(status.FAILED_PRECONDITION, m);
export const invalidArgument = (m: string, hostMessage?: string) => new AgentError(status.INVALID_ARGUMENT, m, hostMessage);
export const internal = (m: string) => new AgentError(status.INTERNAL, m);
