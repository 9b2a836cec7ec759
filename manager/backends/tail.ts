// Follows a growing log file (QEMU writes its output and the guest console to files, not pipes, so
// QEMU keeps running when the manager stops and a restarted manager picks the logs up again).
import { closeSync, openSync, readSync, statSync } from "node:fs";

export class FileTail {
  private offset: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private partial = "";

  constructor(
    private readonly path: string,
    private readonly onLines: (text: string) => void,
    fromEnd = false,
    private readonly intervalMs = 200,
  ) {
    this.offset = fromEnd ? size(path) : 0;
  }

  start(): this {
    this.timer = setInterval(() => this.poll(), this.intervalMs);
    return this;
  }

  /** Reads what arrived since the last poll; complete lines only unless `flush`. */
  poll(flush = false): void {
    const end = size(this.path);
    if (end > this.offset) {
      const fd = openSync(this.path, "r");
      try {
        const buf = Buffer.alloc(Math.min(end - this.offset, 1 << 20));
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        this.offset += n;
        this.partial += buf.subarray(0, n).toString("utf8");
      } finally {
        closeSync(fd);
      }
    }
    const cut = flush ? this.partial.length : this.partial.lastIndexOf("\n") + 1;
    if (cut > 0) {
      const text = this.partial.slice(0, cut);
      this.partial = this.partial.slice(cut);
      if (text.trim()) this.onLines(text);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      this.poll(true);
    } catch {}
  }
}

function size(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
