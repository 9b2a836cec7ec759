// The agent disk's dm-verity hash tree (images/agent-disk.ts): the layout the kernel checks, against
// cryptsetup's veritysetup where it is installed, and a tree that changes with any data byte.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VERITY_BLOCK, verityCmdline, verityTree } from "./agent-disk.ts";

const dir = mkdtempSync(join(tmpdir(), "cocos-verity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic non-trivial data: 300 blocks (three tree levels at 128 digests per block). */
function data(blocks = 300): Uint8Array {
  const d = new Uint8Array(blocks * VERITY_BLOCK);
  for (let i = 0; i < d.length; i++) d[i] = (i * 2654435761) >>> 24;
  return d;
}
const salt = new Uint8Array(32).fill(7);

test.skipIf(!Bun.which("veritysetup"))("the hash tree and root are veritysetup's (format 1, no superblock, SHA-256)", () => {
  const d = data();
  const file = join(dir, "data.img");
  writeFileSync(file, d);
  const r = Bun.spawnSync(["veritysetup", "format", file, file, "--no-superblock", `--hash-offset=${d.length}`, `--salt=${Buffer.from(salt).toString("hex")}`, "--data-block-size=4096", "--hash-block-size=4096", "--hash=sha256", "--format=1"], { stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode).toBe(0);
  const root = /^Root hash:\s*([0-9a-f]{64})$/m.exec(r.stdout.toString())![1];
  const ours = verityTree(d, salt, { kernel: "sha256", bun: "sha256" });
  expect(ours.root).toBe(root!);
  expect(Buffer.from(ours.tree).equals(readFileSync(file).subarray(d.length))).toBe(true);
});

test("one changed data byte changes the root hash (the host cannot swap a block unnoticed)", () => {
  const d = data();
  const a = verityTree(d, salt);
  d[150 * VERITY_BLOCK + 17]! ^= 1;
  const b = verityTree(d, salt);
  expect(b.root).not.toBe(a.root);
  // 300 data blocks → 3 level-0 blocks → 1 top block: the top level first.
  expect(a.tree.length).toBe(4 * VERITY_BLOCK);
});

test("data that is not whole blocks is refused with what was expected", () => {
  expect(() => verityTree(new Uint8Array(VERITY_BLOCK + 1), salt)).toThrow("expected at least two whole 4096-byte blocks");
});

test("the command-line word carries every table parameter /init needs", () => {
  expect(verityCmdline({ data_blocks: 10, hash_start_block: 10, hash: "blake2b-256", root_hash: "ab", salt: "cd" })).toBe("cocos_init.verity=10,10,blake2b-256,ab,cd");
});
