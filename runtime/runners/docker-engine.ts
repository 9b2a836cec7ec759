// A small client of the Docker Engine HTTP API over its Unix socket (fetch's `unix` option), with
// the demultiplexer of the engine's log stream format. No docker CLI involved.

/** The engine's Unix socket: DOCKER_HOST=unix://PATH, else /var/run/docker.sock. Throws for other schemes. */
export function engineSocket(env: Record<string, string | undefined> = process.env): string {
  const host = env.DOCKER_HOST;
  if (!host) return "/var/run/docker.sock";
  if (host.startsWith("unix://")) return host.slice("unix://".length);
  throw new Error(`DOCKER_HOST: expected unix:///path/to/docker.sock, got ${host}`);
}

export class EngineError extends Error {
  override name = "EngineError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface EngineRequest {
  method?: string;
  query?: Record<string, string>;
  json?: unknown;
  body?: Blob | string | Uint8Array;
  contentType?: string;
  signal?: AbortSignal;
  /** Long-polling calls (wait, followed logs) must not hit fetch's 5-minute idle timeout. */
  noIdleTimeout?: boolean;
}

export class DockerEngine {
  constructor(readonly socket: string = engineSocket()) {}

  /** A raw request; non-2xx answers become EngineError with the engine's message. */
  async request(path: string, req: EngineRequest = {}): Promise<Response> {
    const url = new URL(`http://docker${path}`);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = {};
    let body = req.body;
    if (req.json !== undefined) {
      body = JSON.stringify(req.json);
      headers["content-type"] = "application/json";
    } else if (req.contentType) headers["content-type"] = req.contentType;
    const response = await fetch(url, {
      method: req.method ?? "GET",
      headers,
      body,
      unix: this.socket,
      signal: req.signal,
      ...(req.noIdleTimeout ? { timeout: false } : {}),
    });
    if (!response.ok) {
      const text = await response.text();
      let message = text.trim();
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch {
        // not JSON
      }
      throw new EngineError(`${req.method ?? "GET"} ${url.pathname}: engine answered ${response.status}: ${message}`, response.status);
    }
    return response;
  }

  async json<T>(path: string, req: EngineRequest = {}): Promise<T> {
    const response = await this.request(path, req);
    return (await response.json()) as T;
  }

  /** Why no engine answers, or null when one does. */
  async unreachable(): Promise<string | null> {
    try {
      const text = await (await this.request("/_ping", { signal: AbortSignal.timeout(3000) })).text();
      return text.trim() === "OK" ? null : `Docker engine on ${this.socket} answered /_ping with "${text.slice(0, 80)}"`;
    } catch (err) {
      return `no Docker engine answers on unix://${this.socket}: ${(err as Error).message}`;
    }
  }
}

/**
 * Splits the engine's multiplexed stream (a container without TTY): frames of an 8-byte header
 * [stream (1 stdout, 2 stderr), 0, 0, 0, size u32 BE] followed by size payload bytes.
 */
export class StreamDemuxer {
  private buffer = new Uint8Array(0);

  constructor(private readonly emit: (stream: "stdout" | "stderr", payload: Uint8Array) => void) {}

  push(chunk: Uint8Array): void {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    let at = 0;
    while (joined.length - at >= 8) {
      const kind = joined[at]!;
      const size = new DataView(joined.buffer, joined.byteOffset + at + 4, 4).getUint32(0);
      if (kind > 2 || joined[at + 1] !== 0 || joined[at + 2] !== 0 || joined[at + 3] !== 0) {
        throw new Error(`log stream: expected a frame header [0-2, 0, 0, 0, size], got [${Array.from(joined.subarray(at, at + 8))}]`);
      }
      if (joined.length - at - 8 < size) break;
      // Stream 0 (stdin) never carries log output; fold it into stdout rather than dropping bytes.
      this.emit(kind === 2 ? "stderr" : "stdout", joined.slice(at + 8, at + 8 + size));
      at += 8 + size;
    }
    this.buffer = joined.slice(at);
  }

  /** Bytes of an incomplete frame still waiting (non-zero at end of stream means a cut stream). */
  get pending(): number {
    return this.buffer.length;
  }
}
