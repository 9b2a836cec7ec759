// JSON-line logs on stdout; every record at or above the level can also be shipped to the manager
// (Cocos splits each into ≤ 500-character AgentLog pieces).
export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export type LogSink = (level: LogLevel, message: string) => void;

export class Logger {
  private sinks: LogSink[] = [];
  constructor(
    public level: LogLevel = "info",
    private readonly write: (line: string) => void = (l) => process.stdout.write(l + "\n"),
  ) {}

  addSink(s: LogSink): void {
    this.sinks.push(s);
  }

  log(level: LogLevel, msg: string, attrs: Record<string, unknown> = {}): void {
    if (ORDER[level] < ORDER[this.level]) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level: level.toUpperCase(), msg };
    for (const [k, v] of Object.entries(attrs)) rec[k] = v instanceof Error ? v.message : v;
    const line = JSON.stringify(rec);
    this.write(line);
    for (const s of this.sinks) s(level, attrs && Object.keys(attrs).length ? line : msg);
  }

  debug(msg: string, attrs?: Record<string, unknown>): void {
    this.log("debug", msg, attrs);
  }
  info(msg: string, attrs?: Record<string, unknown>): void {
    this.log("info", msg, attrs);
  }
  warn(msg: string, attrs?: Record<string, unknown>): void {
    this.log("warn", msg, attrs);
  }
  error(msg: string, attrs?: Record<string, unknown>): void {
    this.log("error", msg, attrs);
  }
}

/** Splits text into pieces of at most `size` characters (code points are never cut in half). */
export function splitPieces(text: string, size = 500): string[] {
  const cps = Array.from(text);
  if (cps.length <= size) return [text];
  const out: string[] = [];
  for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(""));
  return out;
}
