// A reliable message channel over a reconnecting byte stream: every frame is kept until its ACK
// arrives and re-sent on reconnect or after an ACK timeout; the receiver drops duplicates it has seen
// on the same connection. Delivery is at-least-once across reconnects.
import { encodeAck, encodeFrame, FrameDecoder, HOST_ID_BIT, MAX_FRAME, type Side } from "./frame.ts";

export interface Connection {
  write(bytes: Uint8Array): Promise<void>;
  close(): void;
}

export interface ConnectorHandlers {
  onOpen(conn: Connection): void;
  onData(conn: Connection, data: Uint8Array): void;
  onClose(conn: Connection): void;
}

/** Something that produces connections (one at a time) and keeps trying until stopped. */
export interface Connector {
  readonly description: string;
  start(h: ConnectorHandlers): void;
  stop(): Promise<void>;
}

/** The one interface all three transports (Unix socket, virtio-serial, vsock) present. */
export interface HostChannel {
  readonly side: Side;
  /** Resolves when the peer acknowledged the message; rejects if it never does within the retry budget. */
  send(payload: Uint8Array): Promise<void>;
  onMessage(handler: (payload: Uint8Array) => void): void;
  /** Called on every new underlying connection (e.g. to re-send state the peer may have lost). */
  onConnect(handler: () => void): void;
  readonly connected: boolean;
  close(): Promise<void>;
}

export interface ChannelOptions {
  ackTimeoutMs?: number;
  maxAttempts?: number;
  maxPending?: number;
  maxFrame?: number;
  log?: (level: "debug" | "warn", msg: string) => void;
}

interface Pending {
  id: number;
  frame: Uint8Array;
  attempts: number;
  lastSent: number;
  resolve(): void;
  reject(err: Error): void;
}

export class FramedChannel implements HostChannel {
  // Cocos's writer starts at 2. A host starts at a random point: a guest on virtio-serial keeps one fd
  // (and with it its set of ids already seen) across host restarts, so a restarted manager's ids
  // would otherwise be dropped as duplicates.
  private readonly firstSeq: number;
  private nextSeq: number;
  private wrapped = false;
  private pending = new Map<number, Pending>();
  private conn: Connection | null = null;
  private decoders = new Map<Connection, FrameDecoder>();
  private stallTimers = new Map<Connection, ReturnType<typeof setTimeout>>();
  private seen = new Map<Connection, Set<number>>();
  private handlers: ((p: Uint8Array) => void)[] = [];
  private connectHandlers: (() => void)[] = [];
  private timer: ReturnType<typeof setInterval>;
  private closed = false;
  private readonly ackTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly maxPending: number;
  private readonly maxFrame: number;
  private readonly log: (level: "debug" | "warn", msg: string) => void;

  constructor(readonly side: Side, private readonly connector: Connector, o: ChannelOptions = {}) {
    this.firstSeq = side === "host" ? 2 + (crypto.getRandomValues(new Uint32Array(1))[0]! % (1 << 30)) : 2;
    this.nextSeq = this.firstSeq;
    this.ackTimeoutMs = o.ackTimeoutMs ?? 2000;
    this.maxAttempts = o.maxAttempts ?? 60;
    this.maxPending = o.maxPending ?? 4096;
    this.maxFrame = o.maxFrame ?? MAX_FRAME;
    this.log = o.log ?? (() => {});
    this.timer = setInterval(() => this.resendDue(), Math.max(50, this.ackTimeoutMs / 2));
    (this.timer as { unref?: () => void }).unref?.();
    connector.start({
      onOpen: (c) => this.opened(c),
      onData: (c, d) => this.received(c, d),
      onClose: (c) => this.lost(c),
    });
  }

  get connected(): boolean {
    return this.conn !== null;
  }

  send(payload: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error("host channel is closed"));
    if (payload.length > this.maxFrame) return Promise.reject(new Error(`message of ${payload.length} bytes exceeds the ${this.maxFrame}-byte frame limit`));
    if (this.pending.size >= this.maxPending) return Promise.reject(new Error(`host channel backlog full (${this.maxPending} unacknowledged messages)`));
    const seq = this.nextSeq++;
    if (this.nextSeq >= HOST_ID_BIT) {
      this.nextSeq = 2;
      this.wrapped = true;
    }
    const id = this.side === "host" ? (seq | HOST_ID_BIT) >>> 0 : seq;
    return new Promise<void>((resolve, reject) => {
      const p: Pending = { id, frame: encodeFrame(id, payload), attempts: 0, lastSent: 0, resolve, reject };
      this.pending.set(id, p);
      this.transmit(p);
    });
  }

  onMessage(handler: (payload: Uint8Array) => void): void {
    this.handlers.push(handler);
  }

  onConnect(handler: () => void): void {
    this.connectHandlers.push(handler);
    if (this.conn) handler();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const t of this.stallTimers.values()) clearTimeout(t);
    for (const p of this.pending.values()) p.reject(new Error("host channel closed before the peer acknowledged"));
    this.pending.clear();
    await this.connector.stop();
    this.conn = null;
  }

  private transmit(p: Pending): void {
    if (!this.conn) return;
    p.attempts++;
    p.lastSent = Date.now();
    this.conn.write(p.frame).catch((err) => this.log("debug", `host channel write failed (will retry): ${(err as Error).message}`));
  }

  private resendDue(): void {
    const now = Date.now();
    for (const p of this.pending.values()) {
      if (!this.conn || now - p.lastSent < this.ackTimeoutMs) continue;
      if (p.attempts >= this.maxAttempts) {
        this.pending.delete(p.id);
        p.reject(new Error(`no acknowledgement for message ${p.id} after ${p.attempts} attempts`));
        continue;
      }
      this.transmit(p);
    }
  }

  private opened(c: Connection): void {
    this.conn = c;
    const plausibleAck = (id: number) => {
      const seq = (id & ~HOST_ID_BIT) >>> 0;
      return this.wrapped || (seq >= this.firstSeq && seq < this.nextSeq);
    };
    this.decoders.set(c, new FrameDecoder(this.side, this.maxFrame, (why) => this.log("warn", `host channel (${this.connector.description}): ${why}`), plausibleAck));
    this.seen.set(c, new Set());
    for (const p of [...this.pending.values()].sort((a, b) => a.id - b.id)) this.transmit(p);
    for (const h of this.connectHandlers) h();
  }

  private lost(c: Connection): void {
    clearTimeout(this.stallTimers.get(c));
    this.stallTimers.delete(c);
    this.decoders.delete(c);
    this.seen.delete(c);
    if (this.conn === c) this.conn = null;
  }

  private received(c: Connection, data: Uint8Array): void {
    const dec = this.decoders.get(c);
    if (!dec) return;
    const seen = this.seen.get(c)!;
    clearTimeout(this.stallTimers.get(c));
    const decoded = dec.push(data);
    if (dec.pending > 0) {
      // Peers write each frame in one go, so a partial frame that sits idle is garbage (e.g. the tail
      // of a previous session, or a bogus header): drop it so the peer's retransmission parses cleanly.
      const t = setTimeout(() => {
        const n = dec.reset();
        if (n > 0) this.log("warn", `host channel (${this.connector.description}): dropped ${n} byte(s) of an incomplete frame`);
      }, Math.max(20, this.ackTimeoutMs / 2));
      (t as { unref?: () => void }).unref?.();
      this.stallTimers.set(c, t);
    }
    for (const d of decoded) {
      if (d.kind === "ack") {
        const p = this.pending.get(d.id);
        if (p) {
          this.pending.delete(d.id);
          p.resolve();
        }
        continue;
      }
      c.write(encodeAck(d.id)).catch(() => {});
      if (seen.has(d.id)) continue;
      seen.add(d.id);
      if (seen.size > 4096) seen.delete(seen.values().next().value!);
      for (const h of this.handlers) {
        try {
          h(d.payload);
        } catch (err) {
          this.log("warn", `host channel handler failed: ${(err as Error).message}`);
        }
      }
    }
  }
}
