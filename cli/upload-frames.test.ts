// The hand-encoded upload messages are exactly the protobuf Cocos's agents decode: every chunk,
// every length (one- and multi-byte varints), an empty file, a UTF-8 filename, a file that shrinks.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AlgoRequestType, DataRequestType, decodeMessage } from "../protocol/proto.ts";
import { bytesMessages, fileMessages } from "./upload-frames.ts";

const dir = mkdtempSync(join(tmpdir(), "upload-frames-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (n: number) => new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);

test("DataRequest chunks decode to the file's bytes and the filename in every message", () => {
  const data = bytes(300_001);
  const path = join(dir, "d.bin");
  writeFileSync(path, data);
  const filename = "données é.csv";
  const field = { field: 1, extra: { field: 2, value: filename } };
  for (const frames of [[...fileMessages(path, field, { chunkSize: 100_000 })], [...bytesMessages(data, field, { chunkSize: 100_000 })]]) {
    const msgs = frames.map((f) => decodeMessage<{ dataset: Uint8Array; filename: string }>(DataRequestType, f.msg));
    expect(msgs.map((m) => m.dataset.byteLength)).toEqual([100_000, 100_000, 100_000, 1]);
    expect(frames.map((f) => f.bytes)).toEqual([100_000, 100_000, 100_000, 1]);
    expect(msgs.every((m) => m.filename === filename)).toBe(true);
    expect(Buffer.concat(msgs.map((m) => m.dataset)).equals(Buffer.from(data))).toBe(true);
  }
});

test("lengths across varint boundaries encode as protobufjs does", () => {
  for (const n of [1, 127, 128, 16_383, 16_384, 1 << 20]) {
    const [f] = [...bytesMessages(bytes(n), { field: 1 }, { chunkSize: n })];
    expect(Buffer.from(f!.msg).equals(Buffer.from(AlgoRequestType.encode({ algorithm: bytes(n) }).finish()))).toBe(true);
  }
});

test("an empty file: no AlgoRequest at all, one DataRequest naming it when asked", () => {
  const path = join(dir, "empty");
  writeFileSync(path, "");
  expect([...fileMessages(path, { field: 1 })]).toEqual([]);
  const [only, ...rest] = [...fileMessages(path, { field: 1, extra: { field: 2, value: "e.csv" } }, { always: true })];
  expect(rest).toEqual([]);
  expect(decodeMessage<{ dataset: Uint8Array; filename: string }>(DataRequestType, only!.msg)).toMatchObject({ filename: "e.csv" });
});

test("a file that shrinks while it is read is an error, not a short message", () => {
  const path = join(dir, "shrinks");
  writeFileSync(path, bytes(10_000));
  const it = fileMessages(path, { field: 1 }, { chunkSize: 4_000 });
  expect(it.next().done).toBe(false);
  truncateSync(path, 5_000);
  expect(() => it.next()).toThrow(/shrank while it was being uploaded/);
});
