// JSON-line logger (one object per line on stdout), slog-like: {"time","level","msg",...attrs}.
export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  debug(msg: string, attrs?: Record<string, unknown>): void;
  info(msg: string, attrs?: Record<string, unknown>): void;
  warn(msg: string, attrs?: Record<string, unknown>): void;
  error(msg: string, attrs?: Record<string, unknown>): void;
  child(attrs: Record<string, unknown>): Logger;
}

export function parseLogLevel(text: string): LogLevel {
  const t = text.toLowerCase();
  if (t === "warning") return "warn";
  if (t in ORDER) return t as LogLevel;
  throw new Error(`log level: expected debug, info, warn or error, got ${JSON.stringify(text)}`);
}

export function createLogger(
  level: LogLevel | string = "info",
  base: Record<string, unknown> = {},
  write: (line: string) => void = (l) => process.stdout.write(l),
): Logger {
  const min = ORDER[parseLogLevel(level)];
  const emit = (lv: LogLevel, msg: string, attrs?: Record<string, unknown>) => {
    if (ORDER[lv] < min) return;
    const rec = { time: new Date().toISOString(), level: lv.toUpperCase(), msg, ...base, ...attrs };
    write(JSON.stringify(rec, (_k, v) => (v instanceof Error ? v.message : typeof v === "bigint" ? String(v) : v)) + "\n");
  };
  return {
    debug: (m, a) => emit("debug", m, a),
    info: (m, a) => emit("info", m, a),
    warn: (m, a) => emit("warn", m, a),
    error: (m, a) => emit("error", m, a),
    child: (a) => createLogger(level, { ...base, ...a }, write),
  };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger("error", {}, () => {});
