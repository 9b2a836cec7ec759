import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listTar, readTarEntry, writeTar } from "./tar.ts";

const dir = await mkdtemp(join(tmpdir(), "cocos-tar-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("tar", () => {
  test("writeTar output is read back by listTar and by GNU tar", async () => {
    const path = join(dir, "a.tar");
    await writeFile(
      path,
      writeTar([
        { name: "bin", type: "dir" },
        { name: "bin/tool", type: "file", data: "#!/bin/sh\necho hi\n", mode: 0o755 },
        { name: "bin/link", type: "symlink", target: "tool" },
        { name: "manifest.json", type: "file", data: "[]" },
      ]),
    );
    const entries = await listTar(path);
    expect(entries.map((e) => [e.name, e.type, e.size])).toEqual([
      ["bin/", "5", 0],
      ["bin/tool", "0", 18],
      ["bin/link", "2", 0],
      ["manifest.json", "0", 2],
    ]);
    expect(new TextDecoder().decode(await readTarEntry(path, entries[3]!))).toBe("[]");
    const gnu = Bun.spawnSync(["tar", "-tvf", path]);
    expect(gnu.exitCode).toBe(0);
    const listing = gnu.stdout.toString();
    expect(listing).toContain("-rwxr-xr-x");
    expect(listing).toContain("bin/link -> tool");
  });

  test("reads PAX long names written by GNU tar", async () => {
    const long = "d/" + "x".repeat(150);
    const src = join(dir, "src");
    await Bun.write(join(src, long), "content");
    const path = join(dir, "pax.tar");
    expect(Bun.spawnSync(["tar", "--format=pax", "-C", src, "-cf", path, "d"]).exitCode).toBe(0);
    expect((await listTar(path)).map((e) => e.name)).toContain(long);
  });

  test("rejects what is not a tar, and truncated archives", async () => {
    const junk = join(dir, "junk.tar");
    await writeFile(junk, new Uint8Array(2048).fill(7));
    await expect(listTar(junk)).rejects.toThrow("expected a tar archive, got a file whose first header has a bad checksum");
    const short = join(dir, "short.tar");
    await writeFile(short, "tiny");
    await expect(listTar(short)).rejects.toThrow("expected a tar archive, got 4 bytes (too short)");
    const whole = writeTar([{ name: "f", type: "file", data: new Uint8Array(5000) }]);
    const cut = join(dir, "cut.tar");
    await writeFile(cut, whole.subarray(0, 2048));
    await expect(listTar(cut)).rejects.toThrow("tar archive truncated: entry at byte 0 needs 5000 bytes, 1536 remain");
  });
});
