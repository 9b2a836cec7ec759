import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesChunks, CHUNK_SIZE, fileChunks } from "./chunks.ts";
import { equalBytes, fromHex, hashFile, sha3_256, toHex } from "./hash.ts";

const dir = mkdtempSync(join(tmpdir(), "hash-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("SHA3-256 known answers (FIPS 202)", () => {
  expect(toHex(sha3_256(""))).toBe("a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
  expect(toHex(sha3_256("abc"))).toBe("3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
});

test("hashFile streams and matches the one-shot hash across chunk boundaries", async () => {
  const data = new Uint8Array(3 * CHUNK_SIZE + 17).map((_, i) => (i * 31) & 0xff);
  const p = join(dir, "f.bin");
  writeFileSync(p, data);
  expect(toHex(await hashFile(p))).toBe(toHex(sha3_256(data)));
  const chunks: Uint8Array[] = [];
  for await (const c of fileChunks(p)) chunks.push(c);
  expect(chunks.map((c) => c.length)).toEqual([CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE, 17]);
  expect([...bytesChunks(data)].map((c) => c.length)).toEqual([CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE, 17]);
});

test("hex helpers", () => {
  expect(toHex(fromHex("00ff10"))).toBe("00ff10");
  expect(() => fromHex("abc")).toThrow(/even-length hex/);
  expect(() => fromHex("zz")).toThrow(/hex/);
  expect(equalBytes(fromHex("0102"), fromHex("0102"))).toBe(true);
  expect(equalBytes(fromHex("0102"), fromHex("0103"))).toBe(false);
});
