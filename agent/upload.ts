// Receives an upload into a private temp file while hashing it; nothing reaches its final place
// until every check passed, and an aborted upload leaves no file behind.
import { open, rm, type FileHandle } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { invalidArgument } from "./errors.ts";

export class TempUpload {
  readonly path: string;
  size = 0;
  private hasher = new Bun.CryptoHasher("sha3-256");
  private fh: FileHandle | null = null;
  private opening: Promise<FileHandle> | null = null;
  private done = false;

  constructor(dir: string, private readonly maxBytes: number, private readonly what: string) {
    this.path = join(dir, `.upload-${randomBytes(8).toString("hex")}`);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (chunk.length === 0) return;
    if (this.size + chunk.length > this.maxBytes) {
      throw invalidArgument(`${this.what} exceeds the size limit: expected at most ${this.maxBytes} bytes, received more than ${this.size + chunk.length - 1}`);
    }
    this.opening ??= open(this.path, "wx", 0o600);
    this.fh ??= await this.opening;
    let off = 0;
    while (off < chunk.length) off += (await this.fh.write(chunk, off, chunk.length - off)).bytesWritten;
    this.size += chunk.length;
    this.hasher.update(chunk);
  }

  /** Closes the file and returns its SHA3-256; the file exists (possibly empty) afterwards. */
  async finish(): Promise<Uint8Array> {
    this.opening ??= open(this.path, "wx", 0o600);
    this.fh ??= await this.opening;
    await this.fh.close();
    this.fh = null;
    this.done = true;
    return new Uint8Array(this.hasher.digest().buffer);
  }

  async discard(): Promise<void> {
    if (this.fh) await this.fh.close().catch(() => {});
    else if (this.opening) await (await this.opening.catch(() => null))?.close().catch(() => {});
    this.fh = null;
    await rm(this.path, { force: true });
  }

  get finished(): boolean {
    return this.done;
  }
}
