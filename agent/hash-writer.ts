// Hashes (SHA3-256) and writes upload files on a worker thread, so hashing and disk writes overlap
// with gRPC receive and protobuf decoding on the main thread. The worker hashes with the system
// OpenSSL (libcrypto, through bun:ffi) when it loads and passes a self-test — about 1.3× faster than
// Bun.CryptoHasher's SHA3 — and with Bun.CryptoHasher otherwise.
//
// The worker is agent/hash-worker.ts (an extra entrypoint of the compiled agent, see scripts/build.ts).
// Each file: open (exclusive create, mode 0600) → write… → finish (close, digest) | discard (close,
// unlink). Messages of one file are handled in order, so a discard can never be overtaken by a late
// open or write. Writes are acknowledged; callers hold at most MAX_IN_FLIGHT bytes unacknowledged,
// which keeps memory bounded and lets gRPC flow control push back on a fast client. If the worker
// cannot start, files are hashed and written on the calling thread instead (same checks, slower).
import { closeSync, openSync, rmSync, writeSync } from "node:fs";


/** Unacknowledged bytes one file may have queued for the worker. */
export const MAX_IN_FLIGHT = 8 << 20;

const WORKER_START_TIMEOUT_MS = 10_000;

/** Below this a copy is cheaper than the bookkeeping, and pooled buffers (≤ 4 KiB slices) are never moved. */
const MIN_TRANSFER = 64 << 10;
/** A buffer holding more than the chunk plus this (field headers, the filename) is shared: copied. */
const MAX_TRANSFER_SLACK = 4 << 10;

export type HashImplementation = "libcrypto" | "bun" | "bun-inline";

type Reply = { id: number; ack?: number; hash?: Uint8Array; discarded?: true; error?: string };

const WORKER_URL = new URL("./hash-worker.ts", import.meta.url).href;
let worker: Worker | null = null;
/** Resolves once the worker runs (its hasher), or to "bun-inline" when it could not start. */
let started: Promise<HashImplementation> | null = null;
let nextId = 1;
const handlers = new Map<number, (r: Reply) => void>();

function failAll(why: string): void {
  worker = null;
  started = null;
  for (const [id, h] of handlers) h({ id, error: why });
  handlers.clear();
}

function startWorker(): Promise<HashImplementation> {
  if (started) return started;
  started = new Promise<HashImplementation>((resolve) => {
    let w: Worker;
    try {
      w = new Worker(WORKER_URL);
    } catch {
      return resolve("bun-inline");
    }
    let ready = false;
    w.addEventListener("message", (e: MessageEvent) => {
      const d = e.data as Reply & { ready?: "libcrypto" | "bun" };
      if (d.ready) {
        ready = true;
        worker = w;
        w.unref();
        return resolve(d.ready);
      }
      handlers.get(d.id)?.(d);
    });
    const fail = (why: string) => {
      if (!ready) return resolve("bun-inline");
      failAll(why);
    };
    w.addEventListener("error", (e) => fail(`upload worker failed: ${(e as ErrorEvent).message ?? "unknown error"}`));
    w.addEventListener("close", () => fail("upload worker exited"));
    // A worker that never reports is abandoned; uploads must not wait on it.
    setTimeout(() => {
      if (!ready) {
        w.terminate();
        resolve("bun-inline");
      }
    }, WORKER_START_TIMEOUT_MS).unref();
  });
  return started;
}

/** Which SHA3-256 uploads use; starts the worker if needed. */
export function hashImplementation(): Promise<HashImplementation> {
  return startWorker();
}

/** Same file protocol on the calling thread, for when no worker can start. */
export class InlineFile {
  private fd = -1;
  private h = new Bun.CryptoHasher("sha3-256");
  constructor(private readonly path: string) {}
  private open(): number {
    if (this.fd < 0) this.fd = openSync(this.path, "wx", 0o600);
    return this.fd;
  }
  write(b: Uint8Array): void {
    const fd = this.open();
    this.h.update(b);
    for (let off = 0; off < b.byteLength; ) off += writeSync(fd, b, off, b.byteLength - off);
  }
  finish(): Uint8Array {
    const fd = this.open();
    this.fd = -2; // closed: a later discard only unlinks
    closeSync(fd);
    return new Uint8Array(this.h.digest().buffer);
  }
  discard(): void {
    if (this.fd >= 0) closeSync(this.fd);
    rmSync(this.path, { force: true });
  }
}

/** One file written and hashed by the worker. Not reusable after finish() or discard(). */
export class HashWriter {
  private readonly id = nextId++;
  private opened = false;
  private inFlight = 0;
  private error: Error | null = null;
  private drained: (() => void) | null = null;
  private reply: { resolve: (r: Reply) => void } | null = null;
  private inline: InlineFile | null = null;
  private chosen: Promise<void> | null = null;

  constructor(readonly path: string) {}

  /** Decided once per file, so all of a file's operations go to the same place. */
  private choose(): Promise<void> {
    this.chosen ??= startWorker().then((impl) => {
      if (impl === "bun-inline" || !worker) this.inline = new InlineFile(this.path);
    });
    return this.chosen;
  }

  private onReply(r: Reply): void {
    if (r.error !== undefined && !this.error) this.error = new Error(r.error);
    if (r.ack !== undefined) this.inFlight -= r.ack;
    if (this.drained && (this.inFlight <= MAX_IN_FLIGHT || this.error)) {
      const d = this.drained;
      this.drained = null;
      d();
    }
    if (r.hash !== undefined || r.discarded || (r.error !== undefined && this.reply)) {
      const p = this.reply;
      this.reply = null;
      p?.resolve(r);
    }
  }

  private post(msg: object, transfer: ArrayBuffer[] = []): void {
    const w = worker;
    if (!w) {
      this.onReply({ id: this.id, error: "upload worker is not running" });
      return;
    }
    if (!handlers.has(this.id)) {
      handlers.set(this.id, (r) => this.onReply(r));
      // Held while a file has work queued, so an upload in flight keeps the process alive.
      if (handlers.size === 1) w.ref();
    }
    if (!this.opened) {
      w.postMessage({ op: "open", id: this.id, path: this.path });
      this.opened = true;
    }
    w.postMessage({ ...msg, id: this.id, path: this.path }, transfer);
  }

  private release(): void {
    handlers.delete(this.id);
    if (handlers.size === 0) worker?.unref();
  }

  /**
   * Queues `chunk`; resolves at once unless too much is still unacknowledged. Its ArrayBuffer is moved
   * to the worker without a copy when it is the caller's to give (`transferable`: e.g. a gRPC message
   * buffer, which grpc-js allocates per message and drops after decoding) and holds little else;
   * otherwise (a view of a shared or pooled buffer) the worker gets a copy of exactly this chunk.
   */
  async write(chunk: Uint8Array, transferable = false): Promise<void> {
    await this.choose();
    if (this.error) throw this.error;
    if (this.inline) return this.inline.write(chunk);
    const owned = transferable && chunk.buffer instanceof ArrayBuffer && chunk.byteLength >= MIN_TRANSFER && chunk.buffer.byteLength - chunk.byteLength <= MAX_TRANSFER_SLACK;
    const { buf, offset } = owned ? { buf: chunk.buffer as ArrayBuffer, offset: chunk.byteOffset } : { buf: Uint8Array.prototype.slice.call(chunk).buffer, offset: 0 };
    this.inFlight += chunk.byteLength;
    this.post({ op: "write", buf, offset, length: chunk.byteLength }, [buf]);
    if (this.inFlight > MAX_IN_FLIGHT) await new Promise<void>((r) => (this.drained = r));
    if (this.error) throw this.error;
  }

  private request(op: "finish" | "discard"): Promise<Reply> {
    const p = new Promise<Reply>((resolve) => (this.reply = { resolve }));
    this.post({ op });
    return p;
  }

  /** Closes the file (created empty if nothing was written) and returns its SHA3-256. */
  async finish(): Promise<Uint8Array> {
    await this.choose();
    if (this.inline) return this.inline.finish();
    const r = await this.request("finish");
    this.release();
    if (this.error) throw this.error;
    if (!r.hash) throw new Error(`upload worker finished ${this.path} without a digest`);
    return r.hash;
  }

  /** Closes and removes the file, after every queued write. */
  async discard(): Promise<void> {
    if (this.inline) return this.inline.discard();
    // Never opened: nothing was created and nothing is queued.
    if (!this.opened) return;
    await this.request("discard");
    this.release();
  }
}
