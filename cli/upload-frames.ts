// Upload messages (AlgoRequest / DataRequest chunks) encoded by hand, each file chunk read straight
// into its message's wire buffer. protobufjs would allocate a second buffer per chunk and copy the
// bytes into it; at 1 MiB a chunk, on fresh pages each time, that copy cost as much CPU as the
// HTTP/2 write itself (bench/upload.ts). The bytes on the wire are the same protobuf encoding.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { CHUNK_SIZE } from "../protocol/chunks.ts";

const WIRE_LEN = 2; // protobuf wire type "length-delimited" (bytes, string)

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function putVarint(buf: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/** A length-delimited field's tag and length. */
function fieldHeader(field: number, len: number): Uint8Array {
  const h = new Uint8Array(varintLength((field << 3) | WIRE_LEN) + varintLength(len));
  putVarint(h, putVarint(h, 0, (field << 3) | WIRE_LEN), len);
  return h;
}

/** One encoded request message and how many file bytes it carries (for the progress bar). */
export interface Frame {
  msg: Buffer;
  bytes: number;
}

export interface ChunkField {
  /** Field number of the bytes field the chunk goes in. */
  field: number;
  /** A string field repeated in every message (DataRequest.filename), if any. */
  extra?: { field: number; value: string };
}

/**
 * One encoded message holding `len` bytes, filled by `fill(target)` (which must write exactly
 * target.byteLength bytes), then the extra field.
 */
function encodeChunk(f: ChunkField, len: number, fill: (target: Uint8Array) => void): Frame {
  const head = fieldHeader(f.field, len);
  const extra = f.extra ? Buffer.from(f.extra.value, "utf8") : null;
  const extraHead = extra ? fieldHeader(f.extra!.field, extra.byteLength) : null;
  const msg = Buffer.allocUnsafe(head.byteLength + len + (extra ? extraHead!.byteLength + extra.byteLength : 0));
  msg.set(head, 0);
  fill(msg.subarray(head.byteLength, head.byteLength + len));
  if (extra) {
    msg.set(extraHead!, head.byteLength + len);
    msg.set(extra, head.byteLength + len + extraHead!.byteLength);
  }
  return { msg, bytes: len };
}

/** Fills `target` from `fd` at `pos`; a file that shrank while being read is an error, not a short message. */
function readExactly(fd: number, target: Uint8Array, pos: number, path: string): void {
  for (let off = 0; off < target.byteLength; ) {
    const n = readSync(fd, target, off, target.byteLength - off, pos + off);
    if (n === 0) throw new Error(`${path} ended early: it shrank while it was being uploaded`);
    off += n;
  }
}

/**
 * The messages carrying `path` in chunks of `chunkSize`. With `always`, an empty file still gives one
 * message (a DataRequest that names the file).
 */
export function* fileMessages(path: string, f: ChunkField, o: { chunkSize?: number; always?: boolean } = {}): Generator<Frame> {
  const size = o.chunkSize ?? CHUNK_SIZE;
  const fd = openSync(path, "r");
  try {
    const total = fstatSync(fd).size;
    for (let pos = 0; pos < total; pos += size) {
      const len = Math.min(size, total - pos);
      yield encodeChunk(f, len, (t) => readExactly(fd, t, pos, path));
    }
    if (total === 0 && o.always) yield encodeChunk(f, 0, () => {});
  } finally {
    closeSync(fd);
  }
}

/** The same for bytes in memory (a zipped directory). */
export function* bytesMessages(bytes: Uint8Array, f: ChunkField, o: { chunkSize?: number; always?: boolean } = {}): Generator<Frame> {
  const size = o.chunkSize ?? CHUNK_SIZE;
  for (let pos = 0; pos < bytes.byteLength; pos += size) {
    const piece = bytes.subarray(pos, Math.min(pos + size, bytes.byteLength));
    yield encodeChunk(f, piece.byteLength, (t) => t.set(piece));
  }
  if (bytes.byteLength === 0 && o.always) yield encodeChunk(f, 0, () => {});
}
