// wasi-nn errors: one NnError carries a code name; each ABI maps it to its own numbering
// (witx nn_errno for preview 1, the wasi:nn/errors error-code enum for components).

/** The union of both ABIs' codes (missing-memory/busy are witx-only; timeout/security/unknown are WIT-only). */
export type NnErrorCode =
  | "invalid-argument"
  | "invalid-encoding"
  | "missing-memory"
  | "busy"
  | "timeout"
  | "runtime-error"
  | "unsupported-operation"
  | "too-large"
  | "not-found"
  | "security"
  | "unknown";

export class NnError extends Error {
  constructor(
    readonly code: NnErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** wasmtime crates/wasi-nn/witx/wasi-nn.witx, $nn_errno (u16); 0 is success. */
const WITX_ERRNO: Record<NnErrorCode, number> = {
  "invalid-argument": 1,
  "invalid-encoding": 2,
  "missing-memory": 3,
  busy: 4,
  "runtime-error": 5,
  "unsupported-operation": 6,
  "too-large": 7,
  "not-found": 8,
  // No witx equivalent: the nearest witx code.
  timeout: 5,
  security: 1,
  unknown: 5,
};

export function witxErrno(code: NnErrorCode): number {
  return WITX_ERRNO[code];
}

/** wasi:nn/errors error-code (enum case names as jco passes them). */
export function witErrorCode(code: NnErrorCode): string {
  if (code === "missing-memory") return "too-large";
  if (code === "busy") return "runtime-error";
  return code;
}

/** Any failure as an NnError: backend exceptions become runtime-error with their message. */
export function asNnError(e: unknown): NnError {
  if (e instanceof NnError) return e;
  return new NnError("runtime-error", e instanceof Error ? e.message : String(e));
}
