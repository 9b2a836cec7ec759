// Parsers for configuration values written the way the original Go programs read them
// (strconv.ParseBool, time.ParseDuration), shared by the agent, the manager and the CLI.

/** Go strconv.ParseBool. */
export function parseGoBool(text: string, name: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  throw new Error(`${name}: expected a boolean (true/false/1/0/t/f), got ${JSON.stringify(text)}`);
}

/** A Go-style duration ("60s", "1m30s", "500ms") or a bare number of seconds, in milliseconds. */
export function parseDurationMs(text: string, name: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = t;
  while (rest.length) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`${name}: expected a duration like 60s, 1m30s or 500ms, got ${JSON.stringify(text)}`);
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}
