// Framing of the host↔guest channel (Cocos internal/vsock): u32 LE id, u32 LE length, payload; the
// receiver answers with the u32 LE id as ACK. Both directions carry frames and acks, so the id spaces are
// split: guest-originated ids have the top bit clear (Cocos's agent starts at 2), host-originated ids set.
// A u32 from my own id space is therefore an ACK of my frame; anything else starts a peer frame.
export const MAX_FRAME = 1 << 20;
export const HOST_ID_BIT = 0x80000000;

export type Side = "guest" | "host";

export function isIdOf(side: Side, id: number): boolean {
  return side === "host" ? (id & HOST_ID_BIT) !== 0 : (id & HOST_ID_BIT) === 0 && id !== 0;
}

export function encodeFrame(id: number, payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_FRAME) throw new Error(`frame payload of ${payload.length} bytes exceeds the ${MAX_FRAME}-byte maximum`);
  const out = new Uint8Array(8 + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, id >>> 0, true);
  dv.setUint32(4, payload.length, true);
  out.set(payload, 8);
  return out;
}

export function encodeAck(id: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, id >>> 0, true);
  return out;
}

export type Decoded = { kind: "frame"; id: number; payload: Uint8Array } | { kind: "ack"; id: number };

/**
 * Streaming decoder for the bytes one side receives. A u32 that is neither a plausible ACK (an id this
 * side actually sent) nor a peer frame header (length within the maximum) is dropped one byte at a
 * time until the stream makes sense again. The format has no magic or checksum, so resync is a
 * heuristic: garbage that happens to look like a small frame is delivered to the payload decoder,
 * which rejects it.
 */
export class FrameDecoder {
  private buf = new Uint8Array(0);
  dropped = 0;

  constructor(
    private readonly me: Side,
    private readonly maxFrame = MAX_FRAME,
    private readonly onMalformed: (why: string) => void = () => {},
    private readonly isPlausibleAck: (id: number) => boolean = () => true,
  ) {}

  push(chunk: Uint8Array): Decoded[] {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf);
    merged.set(chunk, this.buf.length);
    let off = 0;
    const out: Decoded[] = [];
    let skipping = 0;
    const flushSkip = () => {
      if (skipping > 0) {
        this.dropped += skipping;
        this.onMalformed(`dropped ${skipping} byte(s) that did not form a valid frame header`);
        skipping = 0;
      }
    };
    const dv = new DataView(merged.buffer);
    while (merged.length - off >= 4) {
      const id = dv.getUint32(off, true);
      if (id === 0 || (isIdOf(this.me, id) && !this.isPlausibleAck(id))) {
        off++;
        skipping++;
        continue;
      }
      if (isIdOf(this.me, id)) {
        flushSkip();
        out.push({ kind: "ack", id });
        off += 4;
        continue;
      }
      if (merged.length - off < 8) break;
      const len = dv.getUint32(off + 4, true);
      if (len > this.maxFrame) {
        off++;
        skipping++;
        continue;
      }
      if (merged.length - off < 8 + len) break;
      flushSkip();
      out.push({ kind: "frame", id, payload: merged.slice(off + 8, off + 8 + len) });
      off += 8 + len;
    }
    flushSkip();
    this.buf = merged.slice(off);
    return out;
  }

  /** Bytes waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }

  /** Drops a partial frame; returns how many bytes were dropped. */
  reset(): number {
    const n = this.buf.length;
    this.dropped += n;
    this.buf = new Uint8Array(0);
    return n;
  }
}
