// Enforces the results-size cap by polling the results directory while the algorithm runs.
// Native runners also set RLIMIT_FSIZE, which stops any single file at the cap immediately; the
// poll catches the total over many files (it may overshoot by what is written in one interval).
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

/** Total apparent size of the regular files under dir (symlinks are not followed). */
export async function directorySize(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await directorySize(path);
    else if (entry.isFile()) {
      try {
        total += (await lstat(path)).size;
      } catch {
        // removed between readdir and lstat
      }
    }
  }
  return total;
}

export const RESULTS_POLL_MS = 100;

export function resultsMessage(size: number, max: number): string {
  return `results grew to ${size} bytes, past the cap of ${max} bytes`;
}

/** Calls onExceeded once when the directory grows past maxBytes; stop() ends the polling. */
export function watchResultsSize(
  dir: string,
  maxBytes: number,
  onExceeded: (size: number) => void,
): { stop(): void; check(): Promise<boolean> } {
  let busy = false;
  let fired = false;
  const check = async (): Promise<boolean> => {
    if (fired) return true;
    const size = await directorySize(dir).catch(() => 0);
    if (size > maxBytes && !fired) {
      fired = true;
      onExceeded(size);
    }
    return fired;
  };
  const timer = setInterval(() => {
    if (busy || fired) return;
    busy = true;
    check().finally(() => (busy = false));
  }, RESULTS_POLL_MS);
  return { stop: () => clearInterval(timer), check };
}
