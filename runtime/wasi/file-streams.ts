// The streams of an open file: reads and writes at the stream's own position (or at the end, for
// append), every written byte charged to the results budget first. The owner (the descriptor) is
// held so that the file is not closed while a stream of it lives.

import { fstatSync, readSync, writeSync } from "node:fs";
import { BaseInputStream, BaseOutputStream, IoError, readyPollable } from "./io.ts";
import { code } from "./fs-errors.ts";

export interface FsHooks {
  /** Called before `bytes` are written to a writable preopen; throws to end the run. */
  chargeWrite(bytes: number): void;
  /** Track open host fds so the parent can close them if the Worker is terminated. */
  fdOpened(fd: number): void;
  fdClosed(fd: number): void;
}

export const STREAM_BUDGET = 1n << 20n;

function streamError(e: unknown): never {
  throw { tag: "last-operation-failed", val: new IoError(code(e)) };
}

export class FileInputStream extends BaseInputStream {
  #fd: number;
  #pos: number;
  #owner: object;
  constructor(owner: object, fd: number, pos: number) {
    super();
    this.#owner = owner;
    this.#fd = fd;
    this.#pos = pos;
  }
  read(len: bigint): Uint8Array {
    const n = Number(len > STREAM_BUDGET ? STREAM_BUDGET : len);
    const buf = new Uint8Array(n);
    let got: number;
    try {
      got = readSync(this.#fd, buf, 0, n, this.#pos);
    } catch (e) {
      streamError(e);
    }
    if (got === 0 && n > 0) throw { tag: "closed" };
    this.#pos += got;
    return buf.subarray(0, got);
  }
  blockingRead(len: bigint): Uint8Array {
    return this.read(len);
  }
  skip(len: bigint): bigint {
    return BigInt(this.read(len).length);
  }
  blockingSkip(len: bigint): bigint {
    return this.skip(len);
  }
  subscribe(): object {
    void this.#owner;
    return readyPollable();
  }
  [Symbol.dispose](): void {}
}

export class FileOutputStream extends BaseOutputStream {
  #fd: number;
  #pos: number | "append";
  #owner: object;
  #hooks: FsHooks;
  constructor(owner: object, hooks: FsHooks, fd: number, pos: number | "append") {
    super();
    this.#hooks = hooks;
    this.#owner = owner;
    this.#fd = fd;
    this.#pos = pos;
  }
  checkWrite(): bigint {
    return STREAM_BUDGET;
  }
  write(buf: Uint8Array): void {
    this.#hooks.chargeWrite(buf.length);
    try {
      const pos = this.#pos === "append" ? fstatSync(this.#fd).size : this.#pos;
      let done = 0;
      while (done < buf.length) done += writeSync(this.#fd, buf, done, buf.length - done, pos + done);
      if (this.#pos !== "append") this.#pos += done;
    } catch (e) {
      streamError(e);
    }
  }
  blockingWriteAndFlush(buf: Uint8Array): void {
    this.write(buf);
  }
  flush(): void {}
  blockingFlush(): void {}
  writeZeroes(len: bigint): void {
    this.write(new Uint8Array(Number(len > STREAM_BUDGET ? STREAM_BUDGET : len)));
  }
  blockingWriteZeroesAndFlush(len: bigint): void {
    this.writeZeroes(len);
  }
  splice(src: { read(len: bigint): Uint8Array }, len: bigint): bigint {
    const chunk = src.read(len);
    this.write(chunk);
    return BigInt(chunk.length);
  }
  blockingSplice(src: { read(len: bigint): Uint8Array }, len: bigint): bigint {
    return this.splice(src, len);
  }
  subscribe(): object {
    void this.#owner;
    return readyPollable();
  }
  [Symbol.dispose](): void {}
}
