// Turns a byte stream into log lines: complete lines as they arrive, overlong lines in pieces, and
// the final partial line on flush. Shared by the process and docker runners.

/** Longest piece handed to onLog; a line without newline is cut here so memory stays bounded. */
export const MAX_LOG_LINE = 64 * 1024;

export class LineSplitter {
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  private pending = "";

  constructor(private readonly emit: (line: string) => void) {}

  push(chunk: Uint8Array): void {
    this.pending += this.decoder.decode(chunk, { stream: true });
    this.drain();
  }

  /** Emits what is left (a last line without newline). */
  flush(): void {
    this.pending += this.decoder.decode();
    this.drain();
    if (this.pending.length > 0) this.emit(this.pending);
    this.pending = "";
  }

  private drain(): void {
    let start = 0;
    for (let nl = this.pending.indexOf("\n"); nl >= 0; nl = this.pending.indexOf("\n", start)) {
      const end = nl > start && this.pending.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      this.emit(this.pending.slice(start, end));
      start = nl + 1;
    }
    this.pending = this.pending.slice(start);
    while (this.pending.length >= MAX_LOG_LINE) {
      this.emit(this.pending.slice(0, MAX_LOG_LINE));
      this.pending = this.pending.slice(MAX_LOG_LINE);
    }
  }
}
