// A guarded network front for a gRPC server that listens on a private Unix socket. Every TCP port
// the agent exposes is one of these (plaintext, TLS, mTLS, attested TLS), so each gets the same
// three protections:
//  - handshake timeout: the TLS handshake and the HTTP/2 client preface must be done within N ms;
//  - idle timeout: a connection that carried no bytes either way for M ms while none of its
//    HTTP/2 streams (RPCs) is open is closed — a long upload or a long Result wait stays open;
//  - a cap on concurrent connections per client address: beyond K, a new one is closed at once.
// The front reads HTTP/2 frame headers (9 bytes each, no HPACK) only to know which streams are open.
import * as net from "node:net";
import * as tls from "node:tls";

export interface GuardLimits {
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnsPerClient: number;
}

export const DEFAULT_GUARD_LIMITS: GuardLimits = { handshakeTimeoutMs: 10_000, idleTimeoutMs: 300_000, maxConnsPerClient: 32 };

export type GuardEvent = "handshake_timeout" | "idle_timeout" | "too_many_connections" | "not_http2";

export interface GuardedFrontOptions {
  /** Where grpc-js listens: a Unix socket path or {host, port}. */
  backend: string | { host: string; port: number };
  listen: { host?: string; port?: number };
  limits?: Partial<GuardLimits>;
  /** Terminate TLS here (certificates, SNICallback, client CA); absent = plaintext h2c. */
  tls?: tls.TlsOptions;
  /** Told of each connection the guard closes (logs, metrics). */
  onClose?: (event: GuardEvent, client: string) => void;
}

export interface GuardedFront {
  port: number;
  /** Open connections per client address (tests, metrics). */
  connections(): Map<string, number>;
  close(): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_RST_STREAM = 0x3;
const FLAG_END_STREAM = 0x1;

/** Frame headers of one direction of an HTTP/2 connection, across arbitrary chunk boundaries. */
class FrameReader {
  private header = Buffer.alloc(0);
  private skip = 0;
  constructor(private readonly onFrame: (type: number, flags: number, stream: number) => void) {}

  feed(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const need = 9 - this.header.length;
      this.header = Buffer.concat([this.header, chunk.subarray(off, off + need)]);
      off += Math.min(need, chunk.length - off);
      if (this.header.length < 9) return;
      const h = this.header;
      this.header = Buffer.alloc(0);
      this.skip = h.readUIntBE(0, 3);
      this.onFrame(h[3]!, h[4]!, h.readUInt32BE(5) & 0x7fffffff);
    }
  }
}

/** Which RPCs (streams) of one connection are open: from the client's HEADERS to the server's end. */
class StreamTracker {
  readonly open = new Set<number>();
  private preface = Buffer.alloc(0);
  // The client opens an RPC with HEADERS; its END_STREAM only half-closes (the answer is still due).
  private readonly client = new FrameReader((type, _flags, id) => {
    if (type === FRAME_HEADERS && id > 0) this.open.add(id);
    else if (type === FRAME_RST_STREAM) this.open.delete(id);
  });
  private readonly server = new FrameReader((type, flags, id) => {
    if (type === FRAME_RST_STREAM || ((type === FRAME_HEADERS || type === FRAME_DATA) && flags & FLAG_END_STREAM)) this.open.delete(id);
  });

  /** Client bytes; returns "done" once the preface is complete, "bad" if it is not HTTP/2. */
  fromClient(chunk: Buffer): "pending" | "done" | "bad" | "after" {
    if (this.preface.length < PREFACE.length) {
      const take = chunk.subarray(0, PREFACE.length - this.preface.length);
      this.preface = Buffer.concat([this.preface, take]);
      if (!PREFACE.subarray(0, this.preface.length).equals(this.preface)) return "bad";
      if (this.preface.length < PREFACE.length) return "pending";
      this.client.feed(chunk.subarray(take.length));
      return "done";
    }
    this.client.feed(chunk);
    return "after";
  }

  fromServer(chunk: Buffer): void {
    this.server.feed(chunk);
  }
}

interface Conn {
  socket: net.Socket;
  client: string;
  opened: number;
  last: number;
  ready: boolean;
  streams: StreamTracker;
}

export async function startGuardedFront(o: GuardedFrontOptions): Promise<GuardedFront> {
  const limits = { ...DEFAULT_GUARD_LIMITS, ...o.limits };
  const conns = new Set<Conn>();
  const perClient = new Map<string, number>();
  const server = o.tls ? tls.createServer({ ALPNProtocols: ["h2"], ...o.tls }) : net.createServer();

  const drop = (c: Conn, event: GuardEvent) => {
    o.onClose?.(event, c.client);
    c.socket.destroy();
  };

  // Counted on the TCP connection, before any TLS work, so a flood costs no handshakes.
  server.on("connection", (socket: net.Socket) => {
    const client = socket.remoteAddress ?? "?";
    const c: Conn = { socket, client, opened: Date.now(), last: Date.now(), ready: false, streams: new StreamTracker() };
    const n = (perClient.get(client) ?? 0) + 1;
    perClient.set(client, n);
    conns.add(c);
    socket.once("close", () => {
      conns.delete(c);
      const left = (perClient.get(client) ?? 1) - 1;
      if (left > 0) perClient.set(client, left);
      else perClient.delete(client);
    });
    socket.on("error", () => {});
    if (n > limits.maxConnsPerClient) return drop(c, "too_many_connections");
    if (!o.tls) relay(c, socket);
  });
  if (o.tls) {
    server.on("secureConnection", (s: tls.TLSSocket) => {
      // Bun hands the same socket object to both events; Node wraps the TCP socket in a new one.
      const c = [...conns].find((x) => x.socket === s || (x.socket.remotePort === s.remotePort && x.socket.remoteAddress === s.remoteAddress));
      if (!c || c.socket.destroyed) return void s.destroy();
      relay(c, s);
    });
    server.on("tlsClientError", () => {});
  }

  /** Pipes the (decrypted) client stream to the backend, watching its HTTP/2 framing. */
  function relay(c: Conn, down: net.Socket): void {
    const up = typeof o.backend === "string" ? net.connect(o.backend) : net.connect(o.backend.port, o.backend.host);
    const done = () => {
      down.destroy();
      up.destroy();
      c.socket.destroy();
    };
    down.on("error", done).on("close", done);
    up.on("error", done).on("close", done);
    down.on("data", (d: Buffer) => {
      c.last = Date.now();
      const s = c.streams.fromClient(d);
      if (s === "bad") return drop(c, "not_http2");
      if (s === "done") c.ready = true;
    });
    up.on("data", (d: Buffer) => {
      c.last = Date.now();
      c.streams.fromServer(d);
    });
    down.pipe(up);
    up.pipe(down);
  }

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const c of conns) {
      if (c.socket.destroyed) continue;
      if (!c.ready && now - c.opened > limits.handshakeTimeoutMs) drop(c, "handshake_timeout");
      else if (c.ready && c.streams.open.size === 0 && now - c.last > limits.idleTimeoutMs) drop(c, "idle_timeout");
    }
  }, Math.max(25, Math.min(1000, Math.min(limits.handshakeTimeoutMs, limits.idleTimeoutMs) / 4)));
  sweep.unref();

  await new Promise<void>((res, rej) => server.once("error", rej).listen(o.listen.port ?? 0, o.listen.host ?? "127.0.0.1", () => res()));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => new Map(perClient),
    close: () =>
      new Promise<void>((res) => {
        clearInterval(sweep);
        for (const c of conns) c.socket.destroy();
        server.close(() => res());
      }),
  };
}
