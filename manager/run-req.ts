// Reassembly of RunReqChunks (cocos-manager.md §1.A): chunks of one id are concatenated in arrival
// order (gRPC streams are ordered, so "out of order" cannot happen within one id; chunks of several ids
// may interleave); every chunk re-arms an idle timer that discards the partial buffer; an is_last
// chunk completes it. What is held is bounded: bytes per request, bytes over all requests, and the
// number of ids in flight. A refused stream stays refused until its is_last chunk, so no tail of it
// is ever taken for a new request.
import { checkComputationId } from "./computation-id.ts";

export interface RunReqChunk {
  data?: Uint8Array | null;
  id?: string;
  is_last?: boolean;
}

export interface AssemblerOptions {
  idleMs: number;
  /** Upper bound of one reassembled request (a manifest is small; this stops a memory blow-up). */
  maxBytes?: number;
  /** Upper bound of the bytes held over every incomplete request. */
  maxTotalBytes?: number;
  /** Upper bound of incomplete requests held at once. */
  maxPending?: number;
  onExpire?: (id: string, receivedBytes: number) => void;
}

export const RUN_REQ_DEFAULTS = { maxBytes: 64 << 20, maxTotalBytes: 128 << 20, maxPending: 8 } as const;

interface Partial {
  parts: Uint8Array[];
  size: number;
  timer: ReturnType<typeof setTimeout>;
}

/** Refused streams remembered at once (ids only, ≤ 128 characters each); the oldest is forgotten first. */
const MAX_REFUSED = 1024;

/** Thrown once per refused stream; `id` is "" when the id itself was refused. */
export class RunReqRefused extends Error {
  constructor(
    readonly id: string,
    message: string,
  ) {
    super(message);
    this.name = "RunReqRefused";
  }
}

export class RunReqAssembler {
  private partial = new Map<string, Partial>();
  /** Streams refused before their is_last chunk: the rest of each is dropped. */
  private refused = new Set<string>();
  private held = 0;
  private readonly max: { maxBytes: number; maxTotalBytes: number; maxPending: number };

  constructor(private readonly opts: AssemblerOptions) {
    this.max = {
      maxBytes: opts.maxBytes ?? RUN_REQ_DEFAULTS.maxBytes,
      maxTotalBytes: opts.maxTotalBytes ?? RUN_REQ_DEFAULTS.maxTotalBytes,
      maxPending: opts.maxPending ?? RUN_REQ_DEFAULTS.maxPending,
    };
  }

  /** Adds a chunk; returns the complete request bytes when this was the is_last chunk; throws RunReqRefused once per refused stream. */
  add(chunk: RunReqChunk): { id: string; bytes: Uint8Array } | null {
    const id = chunk.id ?? "";
    const data = chunk.data ?? new Uint8Array(0);
    // An id that cannot be a computation is never stored (it would be a key of unbounded length).
    const idError = checkComputationId(id);
    if (idError) throw new RunReqRefused("", `run request refused: ${idError}`);
    if (this.refused.has(id)) {
      if (chunk.is_last) this.refused.delete(id);
      return null;
    }
    const p = this.partial.get(id) ?? { parts: [], size: 0, timer: undefined as unknown as ReturnType<typeof setTimeout> };
    clearTimeout(p.timer);
    const why = this.refusal(p, data.byteLength, !this.partial.has(id) && !chunk.is_last);
    if (why) {
      this.forget(id, p);
      if (!chunk.is_last) this.markRefused(id);
      throw new RunReqRefused(id, `run request ${id}: refused, ${why}; the rest of this stream is dropped up to its is_last chunk`);
    }
    if (chunk.is_last) {
      this.forget(id, p);
      return { id, bytes: Buffer.concat([...p.parts, data]) };
    }
    p.parts.push(new Uint8Array(data));
    p.size += data.byteLength;
    this.held += data.byteLength;
    this.arm(id, p);
    return null;
  }

  /** Why `p` may not take `n` more bytes, or "". `opens`: the chunk would start a new held request. */
  private refusal(p: Partial, n: number, opens: boolean): string {
    if (p.size + n > this.max.maxBytes) return `expected at most ${this.max.maxBytes} bytes (MANAGER_RUN_REQ_MAX_BYTES), got more than ${p.size + n}`;
    if (opens && this.partial.size >= this.max.maxPending)
      return `${this.partial.size} incomplete run requests are already held (at most ${this.max.maxPending}, MANAGER_RUN_REQ_MAX_PENDING)`;
    if (this.held + n > this.max.maxTotalBytes)
      return `incomplete run requests already hold ${this.held} bytes; ${n} more would pass the ${this.max.maxTotalBytes}-byte total (MANAGER_RUN_REQ_MAX_TOTAL_BYTES)`;
    return "";
  }

  pendingIds(): string[] {
    return [...this.partial.keys()];
  }

  /** Bytes held for incomplete requests. */
  heldBytes(): number {
    return this.held;
  }

  clear(): void {
    for (const p of this.partial.values()) clearTimeout(p.timer);
    this.partial.clear();
    this.held = 0;
  }

  private markRefused(id: string): void {
    if (this.refused.size >= MAX_REFUSED) this.refused.delete(this.refused.values().next().value!);
    this.refused.add(id);
  }

  private arm(id: string, p: Partial): void {
    p.timer = setTimeout(() => {
      if (this.partial.get(id) !== p) return;
      this.forget(id, p);
      this.opts.onExpire?.(id, p.size);
    }, this.opts.idleMs);
    this.partial.set(id, p);
  }

  /** Drops `p` (if it is the one held for `id`) and its bytes. */
  private forget(id: string, p: Partial): void {
    clearTimeout(p.timer);
    if (this.partial.get(id) === p) {
      this.partial.delete(id);
      this.held -= p.size;
    }
  }
}
