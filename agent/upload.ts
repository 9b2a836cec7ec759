// Receives an upload into a private temp file while hashing it; nothing reaches its final place
// until every check passed, and an aborted upload leaves no file behind.
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { FileSink } from "bun";
import { invalidArgument } from "./errors.ts";

export class TempUpload {
  readonly path: string;
  size = 0;
  private hasher = new Bun.CryptoHasher("sha3-256");
  private sink: FileSink | null = null;
  private done = false;

  constructor(dir: string, private readonly maxBytes: number, private readonly what: string) {
    this.path = join(dir, `.upload-${randomBytes(8).toString("hex")}`);
  }

  private open(): FileSink {
    if (!this.sink) {
      // Created exclusively with mode 0600 first, so no other file is ever followed or overwritten.
      closeSync(openSync(this.path, "wx", 0o600));
      this.sink = Bun.file(this.path).writer({ highWaterMark: 4 << 20 });
    }
    return this.sink;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (chunk.length === 0) return;
    if (this.size + chunk.length > this.maxBytes) {
      throw invalidArgument(`${this.what} exceeds the size limit: expected at most ${this.maxBytes} bytes, received more than ${this.size + chunk.length - 1}`);
    }
    const sink = this.open();
    this.hasher.update(chunk);
    this.size += chunk.length;
    const pending = sink.write(chunk);
    if (pending instanceof Promise) await pending;
  }

  /** Flushes and closes the file and returns its SHA3-256; the file exists (possibly empty) afterwards. */
  async finish(): Promise<Uint8Array> {
    await this.open().end();
    this.done = true;
    return new Uint8Array(this.hasher.digest().buffer);
  }

  async discard(): Promise<void> {
    if (this.sink && !this.done) await Promise.resolve(this.sink.end()).catch(() => {});
    this.sink = null;
    await rm(this.path, { force: true });
  }

  get finished(): boolean {
    return this.done;
  }
}
