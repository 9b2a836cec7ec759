import { expect, test } from "bun:test";
import { TokenBucket } from "./rate-limit.ts";

test("token bucket: a burst, then the rate", () => {
  let now = 0;
  const b = new TokenBucket(10, 20, () => now);
  let granted = 0;
  for (let i = 0; i < 5000; i++) if (b.take()) granted++;
  expect(granted).toBe(20);
  now += 500; // half a second refills 5
  granted = 0;
  for (let i = 0; i < 100; i++) if (b.take()) granted++;
  expect(granted).toBe(5);
  now += 60_000; // never more than the burst
  granted = 0;
  for (let i = 0; i < 100; i++) if (b.take()) granted++;
  expect(granted).toBe(20);
});
