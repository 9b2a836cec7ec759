import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha3_256, toHex } from "../protocol/hash.ts";
import { HashWriter, hashImplementation, InlineFile, MAX_IN_FLIGHT } from "./hash-writer.ts";

const dir = mkdtempSync(join(tmpdir(), "hash-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (n: number, seed: number) => new Uint8Array(n).map((_, i) => ((i + seed) * 2654435761) >>> 24);

describe("HashWriter", () => {
  test("uses libcrypto or Bun's hasher", async () => {
    expect(["libcrypto", "bun"]).toContain(await hashImplementation());
  });

  test("writes exactly the chunks (also Buffer views into larger buffers) and returns their SHA3-256", async () => {
    const data = bytes(3 * MAX_IN_FLIGHT + 12345, 1);
    const path = join(dir, "a");
    const w = new HashWriter(path);
    // A Buffer view with bytes on both sides, as grpc-js hands out message fields.
    const framed = Buffer.concat([Buffer.from([9, 9, 9]), data.subarray(0, 1000), Buffer.from([7, 7])]);
    await w.write(framed.subarray(3, 1003));
    for (let off = 1000; off < data.length; off += 1 << 20) await w.write(data.subarray(off, Math.min(off + (1 << 20), data.length)));
    const hash = await w.finish();
    expect(toHex(hash)).toBe(toHex(sha3_256(data)));
    expect(readFileSync(path).equals(Buffer.from(data))).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test("a transferable chunk that owns its buffer moves to the worker; a view of a larger one is copied and stays intact", async () => {
    const path = join(dir, "moved");
    const w = new HashWriter(path);
    const own = bytes(1 << 20, 3); // a fresh message buffer, as grpc-js allocates one per message
    // A view with 1 MiB of other bytes beside it: moving its buffer would take those from the caller.
    const shared = bytes(2 << 20, 4);
    const view = shared.subarray(0, 1 << 20);
    const expected = sha3_256(Buffer.concat([own, view]));
    const sharedBefore = toHex(sha3_256(shared));
    await w.write(own, true);
    await w.write(view, true);
    expect(toHex(await w.finish())).toBe(toHex(expected));
    expect(own.byteLength).toBe(0); // detached: no copy was made
    expect(shared.byteLength).toBe(2 << 20);
    expect(toHex(sha3_256(shared))).toBe(sharedBefore);
  });

  test("finish without writes creates an empty file and returns SHA3-256 of nothing", async () => {
    const path = join(dir, "empty");
    const hash = await new HashWriter(path).finish();
    expect(toHex(hash)).toBe("a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
    expect(statSync(path).size).toBe(0);
  });

  test("never opens an existing file: the upload fails and the file is untouched", async () => {
    const path = join(dir, "existing");
    writeFileSync(path, "keep me");
    const w = new HashWriter(path);
    const outcome = (async () => {
      await w.write(bytes(100, 2));
      return w.finish();
    })();
    await expect(outcome).rejects.toThrow(/EEXIST|exists/);
    expect(readFileSync(path, "utf8")).toBe("keep me");
  });

  test("discard after queued writes leaves no file", async () => {
    const path = join(dir, "discarded");
    const w = new HashWriter(path);
    for (let i = 0; i < 4; i++) await w.write(bytes(1 << 20, i));
    await w.discard();
    expect(existsSync(path)).toBe(false);
  });

  test("discard after finish removes the temp file too", async () => {
    const path = join(dir, "finished-then-discarded");
    const w = new HashWriter(path);
    await w.write(bytes(10, 3));
    await w.finish();
    await w.discard();
    expect(existsSync(path)).toBe(false);
  });
});

describe("InlineFile (fallback when no worker starts)", () => {
  test("same bytes, same SHA3-256, mode 0600; discard after finish unlinks", () => {
    const data = bytes(3 << 20, 4);
    const path = join(dir, "inline");
    const f = new InlineFile(path);
    f.write(data.subarray(0, 5));
    f.write(data.subarray(5));
    expect(toHex(f.finish())).toBe(toHex(sha3_256(data)));
    expect(readFileSync(path).equals(Buffer.from(data))).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    f.discard();
    expect(existsSync(path)).toBe(false);
  });

  test("never opens an existing file", () => {
    const path = join(dir, "inline-existing");
    writeFileSync(path, "keep me");
    expect(() => new InlineFile(path).write(bytes(10, 5))).toThrow(/EEXIST|exists/);
    expect(readFileSync(path, "utf8")).toBe("keep me");
  });
});
