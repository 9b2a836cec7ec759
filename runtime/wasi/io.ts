// wasi:io — the stream base classes the generated bindings check with instanceof (preview2-shim's),
// the stream error resource, and wasi:io/poll with pollables that live in the run Worker itself, so
// a guest blocked in poll or sleep wakes up when the host interrupts the run.

import { error as ioError, streams } from "@bytecodealliance/preview2-shim/io";
import { monotonicClock } from "@bytecodealliance/preview2-shim/clocks";

type Constructor = new () => object;
/** Every input/output stream the host hands out extends these (jco checks `instanceof`). */
export const BaseOutputStream = streams.OutputStream as unknown as Constructor;
export const BaseInputStream = streams.InputStream as unknown as Constructor;
/** wasi:io/error.error, the payload of a stream's last-operation-failed. */
export const IoError = ioError.Error as unknown as new (payload: unknown) => Error;

export const now = () => monotonicClock.now() as bigint;

/** Ready at `deadline` (monotonic ns), or at once when null. */
export class Pollable {
  constructor(
    readonly deadline: bigint | null,
    private readonly sleep: (ms: number) => void = () => {},
  ) {}
  ready(): boolean {
    return this.deadline === null || now() >= this.deadline;
  }
  block(): void {
    if (this.deadline !== null) waitUntil(this.deadline, this.sleep);
  }
  [Symbol.dispose](): void {}
}

/** Sleeps in slices of at most 1 s through `sleep`, which throws when the host interrupts the run. */
function waitUntil(deadline: bigint, sleep: (ms: number) => void): void {
  for (;;) {
    const left = deadline - now();
    if (left <= 0n) return;
    sleep(Math.min(Number(left / 1_000_000n) + 1, 1000));
  }
}

export const readyPollable = () => new Pollable(null);

/** wasi:io/poll. */
export function createPoll(sleep: (ms: number) => void) {
  return {
    Pollable,
    poll(list: Pollable[]): Uint32Array {
      if (list.length === 0) throw new Error("wasi:io/poll.poll: empty list");
      for (;;) {
        const ready = list.flatMap((p, i) => (p.ready() ? [i] : []));
        if (ready.length > 0) return Uint32Array.from(ready);
        waitUntil(list.reduce((m, p) => (p.deadline! < m ? p.deadline! : m), list[0]!.deadline!), sleep);
      }
    },
  };
}
