// Inputs the manifest gives a source URL for are fetched by the agent itself, when the computation
// enters the state that expects them (Cocos v0.10: the algorithm on entering ReceivingAlgorithm, right
// after the manifest; the datasets on entering ReceivingData). Each lands in the same private temp
// file an upload does (size limit, SHA3-256) and then goes through the same acceptance (manifest hash,
// filename, state), so a fetched input counts as received exactly like an uploaded one. A refused
// fetch leaves the computation waiting: the party may still upload the same bytes.
import { equalBytes, toHex } from "../../protocol/hash.ts";
import { sourceTypeOf, type ResourceSource } from "../../protocol/manifest.ts";
import type { Computation } from "../computation.ts";
import { hostReason } from "../grpc.ts";
import type { Logger } from "../log.ts";
import { TempUpload } from "../upload.ts";
import { SourceError } from "./errors.ts";
import { httpGet } from "./http.ts";
import { ociGet } from "./oci.ts";

export interface SourceOptions {
  /** No response, or no body bytes, for this long ends an attempt. */
  idleTimeoutMs: number;
  /** Attempts per source for retryable failures (network, 5xx, 429, timeouts). */
  attempts: number;
  /** First pause between attempts; doubled each time. */
  backoffMs: number;
}

export const DEFAULT_SOURCE_OPTIONS: SourceOptions = { idleTimeoutMs: 30_000, attempts: 3, backoffMs: 250 };

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** A fetched input, in its temp file (unfinished: the acceptance finishes it), and its first bytes. */
export interface Fetched {
  up: TempUpload;
  head: Uint8Array;
}

/** Finishing is remembered, so the hash can be checked here before the acceptance (which finishes again). */
class FetchedUpload extends TempUpload {
  private hash: Promise<Uint8Array> | null = null;
  override finish(): Promise<Uint8Array> {
    return (this.hash ??= super.finish());
  }
}

/** One attempt: the whole resource into `up`, by the scheme of its URL; returns its first 4 bytes. */
async function fetchOnce(src: ResourceSource, up: TempUpload, maxBytes: number, filename: string | undefined, o: SourceOptions): Promise<Uint8Array> {
  const url = src.url!;
  let head = new Uint8Array(0);
  const sink = {
    write: (c: Uint8Array) => {
      if (head.byteLength < 4) head = Buffer.concat([head, c.subarray(0, 4 - head.byteLength)]);
      return up.write(c);
    },
  };
  if ((src.type ?? sourceTypeOf(url)) === "oci-image") await ociGet(url, sink, { maxBytes, idleTimeoutMs: o.idleTimeoutMs, filename });
  else await httpGet(url, sink, { maxBytes, idleTimeoutMs: o.idleTimeoutMs });
  return head;
}

/** Fetches with bounded retries. */
export async function fetchSource(
  c: Computation,
  src: ResourceSource,
  what: string,
  maxBytes: number,
  filename: string | undefined,
  o: SourceOptions,
  log: Logger,
): Promise<Fetched> {
  for (let attempt = 1; ; attempt++) {
    const up = new FetchedUpload(c.incomingDir, maxBytes, what);
    try {
      return { up, head: await fetchOnce(src, up, maxBytes, filename, o) };
    } catch (err) {
      await up.discard();
      const retry = err instanceof SourceError && err.retryable && attempt < o.attempts;
      if (!retry) throw err;
      log.warn("remote source attempt failed, retrying", { what, url: src.url, attempt, of: o.attempts, error: (err as Error).message });
      await Bun.sleep(o.backoffMs * 2 ** (attempt - 1));
    }
  }
}

/** What the host log may say: a source's own message (URLs, sizes, digests), else hostReason's. */
function reason(err: unknown): string {
  return err instanceof SourceError ? err.message : hostReason(err);
}

async function fetchAlgorithm(c: Computation, o: SourceOptions, log: Logger): Promise<void> {
  const m = c.manifest!;
  const src = m.algorithm.source!;
  const { up, head } = await fetchSource(c, src, "algorithm", c.limits.maxAlgorithmBytes, undefined, o, log);
  try {
    // Cocos v0.9+: the manifest's algo_type and algo_args; without a type, a WebAssembly module runs as one, anything else as a binary.
    const algoType = m.algorithm.algo_type || (WASM_MAGIC.every((b, i) => head[i] === b) ? "wasm" : "bin");
    const caller = { keyDer: m.algorithm.user_key, index: 0, version: 2 as const };
    const plan = await c.planAlgo(caller, { algo_type: [algoType], algo_args: m.algorithm.algo_args ?? [] });
    await c.acceptAlgorithm(plan, up, null);
    log.info("remote algorithm received", { url: src.url, bytes: up.size, algo_type: algoType });
  } catch (err) {
    await up.discard();
    throw err;
  }
}

/** Returns how many were refused. */
async function fetchDatasets(c: Computation, o: SourceOptions, log: Logger): Promise<number> {
  const m = c.manifest!;
  let refused = 0;
  // One at a time, like Cocos: a computation's inputs do not compete for the link.
  for (const [i, d] of m.datasets.entries()) {
    if (!d.source?.url) continue;
    try {
      const { up } = await fetchSource(c, d.source, "dataset", c.limits.maxDatasetBytes, d.filename, o, log);
      try {
        // This source stands for one dataset: say which hash it should have had.
        const hash = await up.finish();
        if (!equalBytes(hash, d.hash)) throw new SourceError(`hash does not match manifest datasets[${i}]: expected SHA3-256 ${toHex(d.hash)}, received ${toHex(hash)} (${up.size} bytes)`);
        // The manifest's decompress (Cocos v0.9+) stands in for the upload's metadata.
        await c.acceptDataset({ keyDer: d.user_key, index: i, version: 2 }, d.filename, up, d.decompress === true);
      } catch (err) {
        await up.discard();
        throw err;
      }
      log.info("remote dataset received", { url: d.source.url, filename: d.filename, bytes: up.size });
    } catch (err) {
      refused++;
      log.error("remote dataset refused", { url: d.source.url, filename: d.filename, error: reason(err) });
    }
  }
  return refused;
}

/** Called on entering ReceivingAlgorithm / ReceivingData; a refusal is logged and the state kept. */
export async function fetchRemoteInputs(c: Computation, stage: "algorithm" | "datasets", o: SourceOptions, log: Logger, warn: () => void): Promise<void> {
  const m = c.manifest;
  if (!m) return;
  if (stage === "algorithm") {
    if (!m.algorithm.source?.url) return;
    await fetchAlgorithm(c, o, log).catch((err) => {
      log.error("remote algorithm refused", { url: m.algorithm.source!.url, error: reason(err) });
      warn();
    });
    return;
  }
  if ((await fetchDatasets(c, o, log)) > 0) warn();
}
