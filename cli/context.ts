// What a command needs from its surroundings; tests pass their own.
export interface CliContext {
  out(line: string): void;
  err(line: string): void;
  cwd: string;
  env: Record<string, string | undefined>;
  /** Progress bars only on a TTY. */
  tty: boolean;
}

export function processContext(): CliContext {
  return {
    out: (l) => process.stdout.write(l + "\n"),
    err: (l) => process.stderr.write(l + "\n"),
    cwd: process.cwd(),
    env: process.env,
    tty: Boolean(process.stdout.isTTY),
  };
}
