/** A remote source refused or failed; `retryable` failures (network, 5xx, timeouts) are tried again. */
export class SourceError extends Error {
  override name = "SourceError";
  constructor(message: string, readonly retryable = false) {
    super(message);
  }
}
