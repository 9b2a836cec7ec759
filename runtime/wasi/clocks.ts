// wasi:clocks — preview2-shim's monotonic clock with subscriptions that are this Worker's own
// pollables (see io.ts); the wall clock is the shim's.

import { monotonicClock } from "@bytecodealliance/preview2-shim/clocks";
import { Pollable, now } from "./io.ts";

export function createMonotonicClock(sleep: (ms: number) => void) {
  return {
    ...monotonicClock,
    subscribeInstant: (instant: bigint) => new Pollable(BigInt(instant), sleep),
    subscribeDuration: (duration: bigint) => new Pollable(now() + BigInt(duration), sleep),
  };
}
