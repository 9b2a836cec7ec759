// The timeline's write path and live fan-out. Events are written in batches (one multi-row INSERT
// per turn of the event loop, at most MAX_BATCH rows) so ten managers streaming at once cost a few
// statements, not thousands; each stored batch is then pushed to the subscribers of its computations
// (the SSE streams). A run's state changes are pushed on the same bus.
import type { NewEvent, Run, Store, TimelineEvent } from "./store.ts";

export type BusMessage = { type: "event"; event: TimelineEvent } | { type: "run"; run: Run };

export class TimelineBus {
  private subs = new Map<string, Set<(m: BusMessage) => void>>();

  subscribe(computationId: string, fn: (m: BusMessage) => void): () => void {
    let set = this.subs.get(computationId);
    if (!set) this.subs.set(computationId, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.subs.delete(computationId);
    };
  }

  publish(computationId: string, m: BusMessage): void {
    for (const fn of this.subs.get(computationId) ?? []) fn(m);
  }
}

const MAX_BATCH = 500;

export class EventWriter {
  private queue: NewEvent[] = [];
  private flushing: Promise<void> | null = null;
  /** Events stored so far (bench, metrics). */
  stored = 0;

  constructor(
    private readonly store: Store,
    private readonly bus: TimelineBus,
    private readonly onError: (e: Error) => void,
  ) {}

  push(e: NewEvent): void {
    this.queue.push(e);
    if (!this.flushing) this.flushing = new Promise<void>((r) => setImmediate(r)).then(() => this.drain());
  }

  /** Resolves once every event pushed so far is stored. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          const stored = await this.store.addEvents(batch);
          this.stored += stored.length;
          for (const ev of stored) this.bus.publish(ev.computation_id, { type: "event", event: ev });
        } catch (e) {
          this.onError(e as Error);
        }
      }
    } finally {
      this.flushing = null;
    }
  }
}
