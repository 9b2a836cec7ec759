import { describe, expect, test } from "bun:test";
import { RunReqAssembler, RunReqRefused } from "./run-req.ts";

const b = (...xs: number[]) => new Uint8Array(xs);

describe("RunReqChunks reassembly", () => {
  test("concatenates chunks of one id and completes on the empty is_last chunk", () => {
    const a = new RunReqAssembler({ idleMs: 1000 });
    expect(a.add({ id: "1", data: b(1, 2), is_last: false })).toBeNull();
    expect(a.add({ id: "1", data: b(3), is_last: false })).toBeNull();
    const done = a.add({ id: "1", data: b(), is_last: true });
    expect(done).toEqual({ id: "1", bytes: new Uint8Array([1, 2, 3]) });
    expect(a.pendingIds()).toEqual([]);
    a.clear();
  });

  test("interleaved ids are kept apart", () => {
    const a = new RunReqAssembler({ idleMs: 1000 });
    a.add({ id: "a", data: b(1), is_last: false });
    a.add({ id: "b", data: b(9), is_last: false });
    a.add({ id: "a", data: b(2), is_last: false });
    expect(a.add({ id: "b", data: b(), is_last: true })!.bytes).toEqual(b(9));
    expect(a.add({ id: "a", data: b(3), is_last: true })!.bytes).toEqual(b(1, 2, 3));
    a.clear();
  });

  test("a partial request is discarded after the idle timeout; later chunks start afresh", async () => {
    const expired: [string, number][] = [];
    const a = new RunReqAssembler({ idleMs: 60, onExpire: (id, n) => expired.push([id, n]) });
    a.add({ id: "x", data: b(1, 2, 3), is_last: false });
    await Bun.sleep(150);
    expect(expired).toEqual([["x", 3]]);
    expect(a.pendingIds()).toEqual([]);
    expect(a.add({ id: "x", data: b(), is_last: true })!.bytes).toEqual(b());
  });

  test("each chunk re-arms the idle timer", async () => {
    const expired: string[] = [];
    const a = new RunReqAssembler({ idleMs: 400, onExpire: (id) => expired.push(id) });
    for (let i = 0; i < 4; i++) {
      a.add({ id: "y", data: b(i), is_last: false });
      await Bun.sleep(130);
    }
    expect(expired).toEqual([]);
    expect(a.add({ id: "y", is_last: true })!.bytes).toEqual(b(0, 1, 2, 3));
  });

  test("an oversized request is refused and forgotten; the rest of its stream, is_last included, starts nothing", () => {
    const a = new RunReqAssembler({ idleMs: 1000, maxBytes: 4 });
    a.add({ id: "z", data: b(1, 2, 3), is_last: false });
    expect(() => a.add({ id: "z", data: b(4, 5), is_last: false })).toThrow(/at most 4 bytes/);
    expect(a.pendingIds()).toEqual([]);
    expect(a.heldBytes()).toBe(0);
    // Refused once: the tail is dropped silently, the last chunk completes nothing.
    expect(a.add({ id: "z", data: b(6), is_last: false })).toBeNull();
    expect(a.add({ id: "z", data: b(7), is_last: true })).toBeNull();
    expect(a.pendingIds()).toEqual([]);
    // The next stream of that id is a new request again.
    expect(a.add({ id: "z", data: b(8), is_last: true })!.bytes).toEqual(b(8));
    a.clear();
  });

  test("bytes held over all incomplete requests and their number are capped", () => {
    const a = new RunReqAssembler({ idleMs: 1000, maxBytes: 1000, maxTotalBytes: 250, maxPending: 2 });
    const chunk = new Uint8Array(90);
    const refused: string[] = [];
    // 6 ids × 2 × 90 bytes: what is held never passes 250 bytes or 2 ids.
    for (let round = 0; round < 2; round++) {
      for (const id of ["a", "b", "c", "d", "e", "f"]) {
        try {
          a.add({ id, data: chunk, is_last: false });
        } catch (e) {
          expect(e).toBeInstanceOf(RunReqRefused);
          refused.push(`${id}: ${(e as Error).message}`);
        }
        expect(a.heldBytes()).toBeLessThanOrEqual(250);
        expect(a.pendingIds().length).toBeLessThanOrEqual(2);
      }
    }
    expect(refused.some((r) => r.startsWith("a:") && r.includes("250-byte total"))).toBe(true);
    expect(refused.some((r) => r.startsWith("d:") && r.includes("at most 2"))).toBe(true);
    // Each refused stream is reported once, not per chunk.
    expect(refused.filter((r) => r.startsWith("d:"))).toHaveLength(1);
    a.clear();
    expect(a.heldBytes()).toBe(0);
  });

  test("ids that are not computation ids are refused before anything is stored", () => {
    const a = new RunReqAssembler({ idleMs: 1000 });
    expect(() => a.add({ id: "x".repeat(1900), data: b(1), is_last: false })).toThrow(/at most 128 characters, got 1900/);
    expect(() => a.add({ id: "a b\x1b", data: b(1), is_last: false })).toThrow(/letters, digits/);
    expect(() => a.add({ id: "", data: b(1), is_last: true })).toThrow(/computation id/);
    expect(a.pendingIds()).toEqual([]);
  });
});
