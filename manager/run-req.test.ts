import { describe, expect, test } from "bun:test";
import { RunReqAssembler } from "./run-req.ts";

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

  test("an oversized request is refused and forgotten", () => {
    const a = new RunReqAssembler({ idleMs: 1000, maxBytes: 4 });
    a.add({ id: "z", data: b(1, 2, 3), is_last: false });
    expect(() => a.add({ id: "z", data: b(4, 5), is_last: false })).toThrow(/at most 4 bytes/);
    expect(a.pendingIds()).toEqual([]);
  });
});
