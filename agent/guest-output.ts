// What the algorithm prints stays in the enclave: its stdout and stderr go to files in the agent's
// work dir (bounded), never to the agent's own logs, the host channel or events — unless the manifest
// opts in (`guest_output`). The agent's notes about the run (a dropped results entry, a runtime error
// message, which may quote guest text) are kept beside them for the same reason.
import { closeSync, fstatSync, mkdirSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

/**
 * Top-level name of the kept output in a results archive ("results" mode): `stdout.txt`,
 * `stderr.txt`, `agent-notes.txt`. An entry of this name that the algorithm writes is left out.
 */
export const GUEST_OUTPUT_DIR = "cocos-guest-output";

type Stream = "stdout" | "stderr";
const FILES = { stdout: "stdout.txt", stderr: "stderr.txt", notes: "agent-notes.txt" } as const;
/** Bytes buffered per file before a write. */
const FLUSH_AT = 64 << 10;

class CappedFile {
  private fd: number;
  private pending: string[] = [];
  private pendingBytes = 0;

  /** Created exclusively and read back through the same descriptor: a link put in its place is never followed. */
  constructor(readonly path: string) {
    this.fd = openSync(path, "wx+", 0o600);
  }

  append(text: string, bytes: number): void {
    this.pending.push(text);
    this.pendingBytes += bytes;
    if (this.pendingBytes >= FLUSH_AT) this.flush();
  }

  flush(): void {
    if (this.pendingBytes === 0 || this.fd < 0) return;
    const buf = Buffer.from(this.pending.join(""));
    for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off);
    this.pending = [];
    this.pendingBytes = 0;
  }

  read(): Uint8Array {
    this.flush();
    const buf = new Uint8Array(fstatSync(this.fd).size);
    for (let off = 0; off < buf.length; ) {
      const n = readSync(this.fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf;
  }

  close(): void {
    this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

export class GuestOutput {
  private files: Record<keyof typeof FILES, CappedFile>;
  private bytes = 0;
  private dropped = 0;
  private closed = false;

  /** `maxBytes` bounds stdout + stderr together (notes are the agent's own and small). */
  constructor(readonly dir: string, private readonly maxBytes: number) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.files = {
      stdout: new CappedFile(join(dir, FILES.stdout)),
      stderr: new CappedFile(join(dir, FILES.stderr)),
      notes: new CappedFile(join(dir, FILES.notes)),
    };
  }

  line(stream: Stream, line: string): void {
    if (this.closed) return;
    const n = Buffer.byteLength(line) + 1;
    if (this.bytes + n > this.maxBytes) {
      this.dropped += n;
      return;
    }
    this.bytes += n;
    this.files[stream].append(line + "\n", n);
  }

  note(text: string): void {
    if (this.closed) return;
    const line = `${new Date().toISOString()} ${text}\n`;
    this.files.notes.append(line, Buffer.byteLength(line));
  }

  private finish(): void {
    if (this.dropped > 0) this.note(`guest output over ${this.maxBytes} bytes: ${this.dropped} more bytes were not kept`);
    this.dropped = 0;
    this.closed = true;
  }

  close(): void {
    if (!this.closed) this.finish();
    for (const f of Object.values(this.files)) f.close();
  }

  /** The kept files by archive name (for "results" mode); nothing is added afterwards. */
  contents(): Record<string, Uint8Array> {
    if (!this.closed) this.finish();
    const out: Record<string, Uint8Array> = {};
    for (const [key, name] of Object.entries(FILES)) out[name] = this.files[key as keyof typeof FILES].read();
    return out;
  }
}
