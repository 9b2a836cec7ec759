import { describe, expect, test } from "bun:test";
import { encodeAck, encodeFrame, FrameDecoder, HOST_ID_BIT, MAX_FRAME } from "./frame.ts";

const payload = new TextEncoder().encode("hello");

describe("frame decoder", () => {
  test("decodes a frame split byte by byte, and acks of own ids", () => {
    const d = new FrameDecoder("host"); // host receives guest frames and acks of host ids
    const bytes = new Uint8Array([...encodeFrame(2, payload), ...encodeAck((HOST_ID_BIT | 5) >>> 0)]);
    const out = [];
    for (const b of bytes) out.push(...d.push(new Uint8Array([b])));
    expect(out).toEqual([
      { kind: "frame", id: 2, payload },
      { kind: "ack", id: (HOST_ID_BIT | 5) >>> 0 },
    ]);
    expect(d.pending).toBe(0);
  });

  test("garbage then a valid frame: the garbage is dropped with a log and the frame arrives", () => {
    const logs: string[] = [];
    const d = new FrameDecoder("guest", 1024, (w) => logs.push(w), () => false);
    const garbage = new Uint8Array([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const hostFrame = encodeFrame((HOST_ID_BIT | 9) >>> 0, payload);
    const out = d.push(new Uint8Array([...garbage, ...hostFrame]));
    expect(out).toEqual([{ kind: "frame", id: (HOST_ID_BIT | 9) >>> 0, payload }]);
    expect(logs.length).toBeGreaterThan(0);
    expect(d.dropped).toBe(garbage.length);
    // and it keeps working afterwards
    expect(d.push(encodeFrame((HOST_ID_BIT | 10) >>> 0, payload))).toHaveLength(1);
  });

  test("reset() drops a stalled partial frame", () => {
    const d = new FrameDecoder("host");
    expect(d.push(encodeFrame(2, payload).subarray(0, 10))).toEqual([]);
    expect(d.pending).toBe(10);
    d.reset();
    expect(d.push(encodeFrame(3, payload))).toEqual([{ kind: "frame", id: 3, payload }]);
  });

  test("oversized length is not waited for", () => {
    const d = new FrameDecoder("host", 16, () => {}, () => false);
    const big = new Uint8Array(8);
    new DataView(big.buffer).setUint32(0, 3, true);
    new DataView(big.buffer).setUint32(4, 0xffffffff, true);
    const out = d.push(new Uint8Array([...big, ...encodeFrame(4, payload)]));
    expect(out).toEqual([{ kind: "frame", id: 4, payload }]);
  });

  test("encoder refuses payloads over the maximum", () => {
    expect(() => encodeFrame(2, new Uint8Array(MAX_FRAME + 1))).toThrow(/exceeds/);
  });
});
