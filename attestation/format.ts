// Human and JSON renderings of a verdict for `cocos-cli attestation validate|get`.
import type { Verdict } from "./verdict.ts";
import { MILAN_FORGEABLE } from "./snp/policy-check.ts";

/** Caveats a verdict carries whether or not it passed (printed as `warning:` lines, listed in JSON). */
export function verdictWarnings(v: Verdict): string[] {
  return v.kind === "snp" && v.claims.product === "Milan" ? [MILAN_FORGEABLE] : [];
}

const KIND_NAME = { snp: "AMD SEV-SNP", tdx: "Intel TDX", sim: "SEV-SNP (sim)" } as const;

/** The verdict ended before any evidence arrived (no TLS handshake, no evidence extension). */
const receivedNone = (v: Verdict) => Object.keys(v.claims).length === 0 && v.checks.every((c) => c.name.startsWith("atls."));

export function formatVerdict(v: Verdict, opts: { color?: boolean; claims?: boolean } = {}): string {
  const paint = (code: number, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const lines: string[] = [];
  const sim = v.simulated ? " — SIMULATED (no hardware TEE; a software root signed this evidence)" : "";
  lines.push(`Attestation evidence: ${receivedNone(v) ? "none received" : KIND_NAME[v.kind] + sim}`);
  const width = Math.max(...v.checks.map((c) => c.name.length), 10);
  for (const c of v.checks) {
    const mark = c.ok ? paint(32, "PASS") : paint(31, "FAIL");
    const info = [c.detail, !c.ok && c.expected !== undefined ? `expected ${c.expected}` : "", !c.ok && c.actual !== undefined ? `got ${c.actual}` : ""].filter(Boolean).join("; ");
    lines.push(`  ${mark}  ${c.name.padEnd(width)}  ${info}`);
  }
  if (opts.claims !== false && Object.keys(v.claims).length) {
    lines.push("Claims:");
    for (const [k, x] of Object.entries(v.claims)) if (x !== undefined) lines.push(`  ${k}: ${String(x)}`);
  }
  lines.push(v.ok ? paint(32, `Result: VERIFIED${v.simulated ? " (SIMULATED)" : ""}`) : paint(31, `Result: FAILED${v.simulated ? " (SIMULATED)" : ""} — ${v.reason}`));
  return lines.join("\n");
}

export function verdictJson(v: Verdict): string {
  const warnings = verdictWarnings(v);
  return JSON.stringify(warnings.length ? { ...v, warnings } : v, (_k, x) => (typeof x === "bigint" ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString("hex") : x), 2);
}
