import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSealed } from "../protocol/sealed-file.ts";
import type { CliContext } from "./context.ts";
import { runCli } from "./program.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cocos-cli-encrypt-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const c: CliContext = { out: (l) => out.push(l), err: (l) => err.push(l), cwd: dir, env: {}, tty: false };
  const { code } = await runCli(argv, c);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

test("keys --symmetric writes 32 raw bytes, 0600, and never replaces a key without --force", async () => {
  expect((await cli("keys", "--symmetric")).code).toBe(0);
  const key = readFileSync(join(dir, "symmetric.key"));
  expect(key.length).toBe(32);
  expect(statSync(join(dir, "symmetric.key")).mode & 0o777).toBe(0o600);
  const again = await cli("keys", "--symmetric");
  expect(again.code).not.toBe(0);
  expect(again.err).toContain("already exists");
  expect(readFileSync(join(dir, "symmetric.key"))).toEqual(key);
  expect((await cli("keys", "--symmetric", "other.key")).code).toBe(0);
  expect(readFileSync(join(dir, "other.key")).length).toBe(32);
});

test("encrypt writes Cocos's format, decryptable with the key; refuses a wrong-size key and an existing output", async () => {
  const plain = Buffer.from("sepal_length,sepal_width\n5.1,3.5\n");
  writeFileSync(join(dir, "in.csv"), plain);
  const r = await cli("encrypt", "symmetric.key", "in.csv", "out.enc");
  expect(r.code).toBe(0);
  const sealed = new Uint8Array(readFileSync(join(dir, "out.enc")));
  expect(sealed.length).toBe(plain.length + 28);
  expect(Buffer.from(openSealed(new Uint8Array(readFileSync(join(dir, "symmetric.key"))), sealed))).toEqual(plain);
  expect((await cli("encrypt", "symmetric.key", "in.csv", "out.enc")).err).toContain("already exists");
  writeFileSync(join(dir, "hex.key"), "ab".repeat(32));
  const bad = await cli("encrypt", "hex.key", "in.csv", "out2.enc");
  expect(bad.code).not.toBe(0);
  expect(bad.err).toContain("expected 32 bytes, got 64");
});
