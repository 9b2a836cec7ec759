// Inputs the manifest gives a source URL for are fetched by the agent itself, when the computation
// enters the state that expects them (Cocos v0.10: the algorithm on entering ReceivingAlgorithm, right
// after the manifest; the datasets on entering ReceivingData). Each lands in the same private temp
// file an upload does (size limit, SHA3-256) and then goes through the same acceptance (manifest hash,
// filename, state), so a fetched input counts as received exactly like an uploaded one. A refused
// fetch leaves the computation waiting: the party may still upload the same bytes.
import { sourceTypeOf, type ResourceSource } from "../../protocol/manifest.ts";
import type { Computation } from "../computation.ts";
import { hostReason } from "../grpc.ts";
import type { Logger } from "../log.ts";
import type { ByteSink, InputSession } from "../input-session.ts";
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

/** A session a fetch can fill: the computation's input session for this source. */
type Session = ByteSink & InputSession<unknown>;

/** One attempt: the whole resource into `s`, by the scheme of its URL. */
async function fetchOnce(src: ResourceSource, s: ByteSink, maxBytes: number, filename: string | undefined, o: SourceOptions): Promise<void> {
  const url = src.url!;
  // A fetched body's chunks are fresh buffers of the HTTP client: the file may take them without a copy.
  const sink: ByteSink = { write: (c) => s.write(c, true) };
  if ((src.type ?? sourceTypeOf(url)) === "oci-image") await ociGet(url, sink, { maxBytes, idleTimeoutMs: o.idleTimeoutMs, filename });
  else await httpGet(url, sink, { maxBytes, idleTimeoutMs: o.idleTimeoutMs });
}

/** Fetches into a fresh session per attempt (bounded retries), then commits it; a refusal discards it. */
export async function fetchSource(src: ResourceSource, what: string, maxBytes: number, filename: string | undefined, open: () => Session, o: SourceOptions, log: Logger): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const session = open();
    try {
      await fetchOnce(src, session, maxBytes, filename, o);
    } catch (err) {
      await session.discard();
      const retry = err instanceof SourceError && err.retryable && attempt < o.attempts;
      if (!retry) throw err;
      log.warn("remote source attempt failed, retrying", { what, url: src.url, attempt, of: o.attempts, error: (err as Error).message });
      await Bun.sleep(o.backoffMs * 2 ** (attempt - 1));
      continue;
    }
    try {
      return await session.commit();
    } catch (err) {
      await session.discard();
      throw err;
    }
  }
}

/** What the host log may say: a source's own message (URLs, sizes, digests), else hostReason's. */
function reason(err: unknown): string {
  return err instanceof SourceError ? err.message : hostReason(err);
}

async function fetchAlgorithm(c: Computation, o: SourceOptions, log: Logger): Promise<void> {
  const src = c.manifest!.algorithm.source!;
  const bytes = await fetchSource(src, "algorithm", c.limits.maxAlgorithmBytes, undefined, () => c.remoteAlgorithmInput(), o, log);
  log.info("remote algorithm received", { url: src.url, bytes });
}

/** Returns how many were refused. */
async function fetchDatasets(c: Computation, o: SourceOptions, log: Logger): Promise<number> {
  const m = c.manifest!;
  let refused = 0;
  // One at a time, like Cocos: a computation's inputs do not compete for the link.
  for (const [i, d] of m.datasets.entries()) {
    if (!d.source?.url) continue;
    try {
      const bytes = await fetchSource(d.source, "dataset", c.limits.maxDatasetBytes, d.filename, () => c.remoteDatasetInput(i), o, log);
      log.info("remote dataset received", { url: d.source.url, filename: d.filename, bytes });
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
