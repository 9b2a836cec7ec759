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

export interface SinkBudget {
  /** Pieces that may leave at once. Default 200. */
  burst?: number;
  /** Pieces per second on average after that. Default 20. */
  perSecond?: number;
  now?: () => number;
}

/**
 * A sink that ships each record as ≤ 500-character pieces through `send`, under a token bucket (one
 * token a piece): a flood of records becomes a bounded number, then one summary record
 * "N log records dropped" once tokens are back — never a flood on the host channel.
 */
export function budgetedSink(send: (level: LogLevel, piece: string) => void, budget: SinkBudget = {}): LogSink {
  const burst = budget.burst ?? 200;
  const rate = budget.perSecond ?? 20;
  const now = budget.now ?? (() => performance.now());
  let tokens = burst;
  let last = now();
  let dropped = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const refill = () => {
    const t = now();
    tokens = Math.min(burst, tokens + ((t - last) * rate) / 1000);
    last = t;
  };
  const summarize = () => {
    if (dropped === 0 || tokens < 1) return;
    tokens -= 1;
    send("warn", `${dropped} log records dropped (the agent sends at most ${burst} pieces at once, then ${rate} per second)`);
    dropped = 0;
  };
  const later = () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      refill();
      summarize();
      if (dropped > 0) later();
    }, Math.ceil(1000 / rate) + 1);
    timer.unref?.();
  };
  return (level, message) => {
    refill();
    summarize();
    const pieces = splitPieces(message);
    // While records are being dropped, later ones are too: the summary always comes before them.
    if (dropped > 0 || pieces.length > tokens) {
      dropped++;
      later();
      return;
    }
    tokens -= pieces.length;
    for (const p of pieces) send(level, p);
  };
}
