// Reassembly of RunReqChunks (cocos-manager.md §1.A): chunks of one id are concatenated in arrival
// order (gRPC streams are ordered, so "out of order" cannot happen within one id; chunks of several ids
// may interleave); every chunk re-arms an idle timer that discards the partial buffer; an is_last
// chunk completes it.
export interface RunReqChunk {
  data?: Uint8Array | null;
  id?: string;
  is_last?: boolean;
}

export interface AssemblerOptions {
  idleMs: number;
  /** Upper bound of one reassembled request (a manifest is small; this stops a memory blow-up). */
  maxBytes?: number;
  onExpire?: (id: string, receivedBytes: number) => void;
}

interface Partial {
  parts: Uint8Array[];
  size: number;
  timer: ReturnType<typeof setTimeout>;
}

export class RunReqAssembler {
  private partial = new Map<string, Partial>();
  constructor(private readonly opts: AssemblerOptions) {}

  /** Adds a chunk; returns the complete request bytes when this was the is_last chunk. */
  add(chunk: RunReqChunk): { id: string; bytes: Uint8Array } | null {
    const id = chunk.id ?? "";
    const data = chunk.data ?? new Uint8Array(0);
    let p = this.partial.get(id);
    if (p) clearTimeout(p.timer);
    else p = { parts: [], size: 0, timer: undefined as unknown as ReturnType<typeof setTimeout> };
    const max = this.opts.maxBytes ?? 64 << 20;
    if (p.size + data.byteLength > max) {
      this.partial.delete(id);
      throw new Error(`run request ${JSON.stringify(id)}: expected at most ${max} bytes, got more than ${p.size + data.byteLength}`);
    }
    if (data.byteLength) {
      p.parts.push(new Uint8Array(data));
      p.size += data.byteLength;
    }
    if (chunk.is_last) {
      this.partial.delete(id);
      return { id, bytes: Buffer.concat(p.parts) };
    }
    const entry = p;
    entry.timer = setTimeout(() => {
      if (this.partial.get(id) === entry) {
        this.partial.delete(id);
        this.opts.onExpire?.(id, entry.size);
      }
    }, this.opts.idleMs);
    this.partial.set(id, entry);
    return null;
  }

  pendingIds(): string[] {
    return [...this.partial.keys()];
  }

  clear(): void {
    for (const p of this.partial.values()) clearTimeout(p.timer);
    this.partial.clear();
  }
}
