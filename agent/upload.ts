// Receives an upload into a private temp file while hashing it; nothing reaches its final place
// until every check passed, and an aborted upload leaves no file behind. Hashing and writing run on
// the upload worker (hash-writer.ts), overlapped with receiving.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { invalidArgument } from "./errors.ts";
import { HashWriter } from "./hash-writer.ts";

export class TempUpload {
  readonly path: string;
  size = 0;
  private file: HashWriter;

  constructor(dir: string, private readonly maxBytes: number, private readonly what: string) {
    this.path = join(dir, `.upload-${randomBytes(8).toString("hex")}`);
    // Created exclusively with mode 0600 by the worker, so no other file is ever followed or overwritten.
    this.file = new HashWriter(this.path);
  }

  /** `transferable`: the caller gives the chunk away (HashWriter.write may move it to the worker). */
  async write(chunk: Uint8Array, transferable = false): Promise<void> {
    if (chunk.length === 0) return;
    if (this.size + chunk.length > this.maxBytes) {
      throw invalidArgument(`${this.what} exceeds the size limit: expected at most ${this.maxBytes} bytes, received more than ${this.size + chunk.length - 1}`);
    }
    this.size += chunk.length;
    await this.file.write(chunk, transferable);
  }

  /** Flushes and closes the file and returns its SHA3-256; the file exists (possibly empty) afterwards. */
  finish(): Promise<Uint8Array> {
    return this.file.finish();
  }

  async discard(): Promise<void> {
    await this.file.discard();
  }
}
