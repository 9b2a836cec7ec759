// The verdict every verifier returns: never an exception, every check listed, one named reason.

export interface Check {
  name: string;
  ok: boolean;
  expected?: string;
  actual?: string;
  detail?: string;
}

export type EvidenceKind = "snp" | "tdx" | "sim";

export interface Verdict {
  ok: boolean;
  kind: EvidenceKind;
  checks: Check[];
  /** Stable machine-readable name of the first failure, e.g. "snp.report_signature". */
  code?: string;
  /** One line: the code and what was expected vs. what arrived. */
  reason?: string;
  simulated: boolean;
  claims: Record<string, unknown>;
}

/** Collects checks; the first failing check (by insertion) becomes the verdict's reason. */
export class CheckList {
  readonly checks: Check[] = [];
  private firstFail?: { code: string; line: string };

  constructor(readonly kind: EvidenceKind) {}

  add(code: string, ok: boolean, info: { expected?: string; actual?: string; detail?: string } = {}): boolean {
    this.checks.push({ name: code, ok, ...info });
    if (!ok && !this.firstFail) {
      const parts = [info.detail, info.expected !== undefined ? `expected ${info.expected}` : "", info.actual !== undefined ? `got ${info.actual}` : ""].filter(Boolean);
      this.firstFail = { code, line: `${code}: ${parts.join("; ") || "failed"}` };
    }
    return ok;
  }

  pass(code: string, detail?: string) {
    return this.add(code, true, detail ? { detail } : {});
  }

  fail(code: string, detail: string, info: { expected?: string; actual?: string } = {}) {
    return this.add(code, false, { detail, ...info });
  }

  get failed() {
    return this.firstFail !== undefined;
  }

  verdict(simulated: boolean, claims: Record<string, unknown>): Verdict {
    return {
      ok: !this.firstFail,
      kind: simulated && this.kind === "snp" ? "sim" : this.kind,
      checks: this.checks,
      code: this.firstFail?.code,
      reason: this.firstFail?.line,
      simulated,
      claims,
    };
  }
}

function internalError(c: CheckList, e: unknown): Verdict {
  c.fail(`${c.kind === "tdx" ? "tdx" : "snp"}.internal_error`, `verifier error: ${(e as Error)?.message ?? String(e)}`);
  return c.verdict(c.kind === "sim", {});
}

/** Runs a verifier body; any unexpected exception still yields a verdict. */
export function guard(kind: EvidenceKind, body: (c: CheckList) => Verdict): Verdict {
  const c = new CheckList(kind);
  try {
    return body(c);
  } catch (e) {
    return internalError(c, e);
  }
}

/** guard for asynchronous bodies (a WebCrypto backend). */
export async function guardAsync(kind: EvidenceKind, body: (c: CheckList) => Promise<Verdict>): Promise<Verdict> {
  const c = new CheckList(kind);
  try {
    return await body(c);
  } catch (e) {
    return internalError(c, e);
  }
}
