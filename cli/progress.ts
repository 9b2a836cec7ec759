// Upload/download progress: a cli-progress bar on a TTY, silence otherwise (logs, pipes, tests).
import cliProgress from "cli-progress";

export interface Progress {
  start(total: number): void;
  add(n: number): void;
  stop(): void;
}

export function progress(label: string, enabled = Boolean(process.stdout.isTTY)): Progress {
  if (!enabled) return { start() {}, add() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} bytes`, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    start(total) {
      bar.start(Math.max(total, 0), 0);
      started = true;
    },
    add(n) {
      if (started) bar.increment(n);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
