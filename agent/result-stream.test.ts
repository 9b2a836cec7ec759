// The Result RPC streams the archive from disk: a ~100 MB results file goes out in chunks of at most
// CHUNK_SIZE, the next chunk is read only after the transport drained the last one, and the agent's
// memory does not grow by the archive's size.
import { afterAll, expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { CHUNK_SIZE } from "../protocol/chunks.ts";
import type { Computation } from "./computation.ts";
import { agentHandlers } from "./grpc.ts";
import { Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";

const dir = mkdtempSync(join(tmpdir(), "result-stream-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SIZE = 100 * 1000 * 1000;

/** A results file of SIZE bytes (sparse, with marks at both ends so the chunks' order is checked). */
function bigResult(): string {
  const path = join(dir, "results.zip");
  const fd = openSync(path, "w");
  ftruncateSync(fd, SIZE);
  writeSync(fd, Buffer.from("PK\x03\x04"), 0, 4, 0);
  writeSync(fd, Buffer.from("END!"), 0, 4, SIZE - 4);
  closeSync(fd);
  return path;
}

/** A server stream that always reports back-pressure and drains on the next turn, as a slow client would. */
class SlowCall extends EventEmitter {
  metadata = new grpc.Metadata();
  request = {};
  cancelled = false;
  sizes: number[] = [];
  /** Chunks written but not yet drained, at most. */
  maxPending = 0;
  private pending = 0;
  first = "";
  last = "";
  peakRssGrowth = 0;
  private readonly baseRss = process.memoryUsage().rss;
  ended = new Promise<void>((r) => this.once("end-called", r));

  sendMetadata(): void {}
  write(m: { file: Uint8Array }): boolean {
    this.sizes.push(m.file.byteLength);
    if (this.sizes.length === 1) this.first = Buffer.from(m.file.subarray(0, 4)).toString();
    this.last = Buffer.from(m.file.subarray(m.file.byteLength - 4)).toString();
    this.maxPending = Math.max(this.maxPending, ++this.pending);
    setImmediate(() => {
      this.pending--;
      // Collected now and then, so the figure is what is still referenced, not garbage not yet swept.
      if (this.sizes.length % 16 === 0) {
        Bun.gc(true);
        this.peakRssGrowth = Math.max(this.peakRssGrowth, process.memoryUsage().rss - this.baseRss);
      }
      this.emit("drain");
    });
    return false;
  }
  end(): void {
    this.emit("end-called");
  }
}

test("a ~100 MB result is streamed from disk in chunks, each read after the last one drained; memory stays flat", async () => {
  const path = bigResult();
  let delivered = false;
  const computation = {
    authenticate: () => ({ keyDer: new Uint8Array(0), index: 0, version: 2 }),
    results: async () => ({ path, size: SIZE }),
    resultsDelivered: () => (delivered = true),
  } as unknown as Computation;
  const log = new Logger("info", () => {});
  const h = agentHandlers({ computation, attestation: { provider: () => null }, log, metrics: new Metrics(() => "ConsumingResults") });
  Bun.gc(true);
  const call = new SlowCall();
  (h.Result as (c: unknown) => void)(call);
  await call.ended;
  expect(call.sizes.reduce((a, b) => a + b, 0)).toBe(SIZE);
  expect(Math.max(...call.sizes)).toBeLessThanOrEqual(CHUNK_SIZE);
  expect(call.sizes.length).toBe(Math.ceil(SIZE / CHUNK_SIZE));
  expect([call.first, call.last]).toEqual(["PK\x03\x04", "END!"]);
  // Loaded whole, the archive alone would add 100 MB; streamed, only the chunk in flight is held.
  expect(call.maxPending).toBe(1);
  expect(call.peakRssGrowth).toBeLessThan(40 * 1000 * 1000);
  expect(delivered).toBe(true);
}, 60_000);
