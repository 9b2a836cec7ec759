// Fetches one resource over HTTP(S) into a sink, streamed: the body is never held whole. Every
// check an upload gets (size limit, hashing in the sink) plus the ones only a remote source needs: a
// redirect may not leave the URL's host (nor drop from https to http), the body must be exactly the
// Content-Length announced, the limit is enforced before and while reading, and a silent server is
// cut off after the idle timeout.
import { SourceError } from "./errors.ts";

import type { ByteSink } from "../input-session.ts";

export type { ByteSink };

export interface HttpGetOptions {
  maxBytes: number;
  /** No response headers, or no body bytes, for this long: the request is abandoned. */
  idleTimeoutMs: number;
  headers?: Record<string, string>;
  /** Each body chunk also goes here (e.g. a digest the caller checks). */
  onChunk?: (chunk: Uint8Array) => void;
  /** The exact size the caller already knows (an OCI descriptor); a different one is refused. */
  expectedBytes?: number;
  /**
   * Redirects may lead to another host: only for content pinned by a digest the caller checks (OCI
   * blobs, which registries serve from a CDN). The Authorization header never follows to that host.
   */
  anyHost?: boolean;
}

const MAX_REDIRECTS = 5;

/** Follows redirects (same-host only unless `anyHost`); returns the final response with its body unread. */
export async function getFollowing(url: string, o: Pick<HttpGetOptions, "headers" | "idleTimeoutMs" | "anyHost">, abort: AbortController): Promise<Response> {
  const origin = new URL(url);
  let current = origin;
  for (let hop = 0; ; hop++) {
    const timer = setTimeout(() => abort.abort(), o.idleTimeoutMs);
    let res: Response;
    const headers = { ...o.headers };
    if (current.host !== origin.host) delete headers.authorization;
    try {
      res = await fetch(current, { redirect: "manual", headers, signal: abort.signal });
    } catch (err) {
      throw new SourceError(`could not fetch ${current.href}: ${abort.signal.aborted ? `no response within ${o.idleTimeoutMs} ms` : (err as Error).message}`, true);
    } finally {
      clearTimeout(timer);
    }
    if (res.status < 300 || res.status >= 400 || res.status === 304) return res;
    await res.body?.cancel().catch(() => {});
    const location = res.headers.get("location");
    if (!location) throw new SourceError(`${current.href} answered ${res.status} without a Location`);
    const next = new URL(location, current);
    // The manifest names a host; a redirect elsewhere would let that host hand the input to a third party's server.
    if (next.host !== origin.host && !o.anyHost) throw new SourceError(`${current.href} redirects to another host: expected ${origin.host}, received a redirect to ${next.host}`);
    if (origin.protocol === "https:" && next.protocol !== "https:") throw new SourceError(`${current.href} redirects from https to ${next.protocol.slice(0, -1)}: refused`);
    if (hop + 1 >= MAX_REDIRECTS) throw new SourceError(`${url} redirects more than ${MAX_REDIRECTS} times`);
    current = next;
  }
}

/** 5xx and 429 may pass; any other non-2xx is the source's final answer. */
export function refuseStatus(url: string, res: Response, what: string): void {
  if (res.ok) return;
  const retryable = res.status >= 500 || res.status === 429;
  throw new SourceError(`${what} at ${url}: expected HTTP 200, received ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`, retryable);
}

function announcedLength(res: Response): number | undefined {
  const v = res.headers.get("content-length");
  if (v === null) return undefined;
  if (!/^\d{1,16}$/.test(v)) throw new SourceError(`Content-Length is not a byte count: ${JSON.stringify(v.slice(0, 40))}`);
  return Number(v);
}

/** GET `url` into `sink`; resolves with the byte count once the whole body passed every check. */
export async function httpGet(url: string, sink: ByteSink, o: HttpGetOptions): Promise<number> {
  const abort = new AbortController();
  const res = await getFollowing(url, o, abort);
  try {
    refuseStatus(url, res, "the resource");
    const announced = announcedLength(res);
    if (announced !== undefined && announced > o.maxBytes) {
      throw new SourceError(`${url} exceeds the size limit: expected at most ${o.maxBytes} bytes, the server announces ${announced}`);
    }
    if (o.expectedBytes !== undefined && announced !== undefined && announced !== o.expectedBytes) {
      throw new SourceError(`${url}: expected ${o.expectedBytes} bytes (descriptor size), the server announces ${announced}`);
    }
    const limit = Math.min(o.maxBytes, announced ?? Infinity, o.expectedBytes ?? Infinity);
    const expected = announced ?? o.expectedBytes;
    const received = await streamBody(url, res, sink, limit, expected, o, abort);
    if (expected !== undefined && received !== expected) {
      throw new SourceError(`${url} lies about its length: expected ${expected} bytes (${announced !== undefined ? "Content-Length" : "descriptor size"}), received ${received}`);
    }
    return received;
  } finally {
    abort.abort();
  }
}

async function streamBody(url: string, res: Response, sink: ByteSink, limit: number, expected: number | undefined, o: HttpGetOptions, abort: AbortController): Promise<number> {
  if (!res.body) return 0;
  const reader = res.body.getReader();
  let received = 0;
  for (;;) {
    const timer = setTimeout(() => abort.abort(), o.idleTimeoutMs);
    let step: Awaited<ReturnType<typeof reader.read>>;
    try {
      step = await reader.read();
    } catch (err) {
      const why = abort.signal.aborted ? `no data for ${o.idleTimeoutMs} ms` : (err as Error).message;
      const of = expected === undefined ? "" : ` of the ${expected} announced`;
      throw new SourceError(`${url}: the body broke off after ${received} bytes${of} (${why})`, true);
    } finally {
      clearTimeout(timer);
    }
    if (step.done) return received;
    received += step.value.byteLength;
    if (received > limit) {
      await reader.cancel().catch(() => {});
      const why = limit === o.maxBytes ? `expected at most ${o.maxBytes} bytes (the size limit)` : `expected ${limit} bytes (as announced)`;
      throw new SourceError(`${url} serves more bytes than allowed: ${why}, received more than ${received - 1}`);
    }
    o.onChunk?.(step.value);
    await sink.write(step.value);
  }
}
