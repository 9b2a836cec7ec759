import { describe, expect, test } from "bun:test";
import { type CpioEntry, cpioModes, readCpio, writeCpio } from "./cpio.ts";

const enc = new TextEncoder();
const concat = (c: Uint8Array[]) => new Uint8Array(Buffer.concat(c));
const sample = (): CpioEntry[] => [
  { path: "usr/bin/z", type: "file", data: enc.encode("zz"), mode: 0o755 },
  { path: "init", type: "file", data: enc.encode("#!/bin/sh\n") , mode: 0o755 },
  { path: "bin/sh", type: "symlink", target: "/bin/busybox" },
  { path: "dev/console", type: "chardev", major: 5, minor: 1 },
  { path: "a-b", type: "file", data: new Uint8Array([1, 2, 3]) },
];

describe("newc cpio writer", () => {
  test("parses back: sorted entries, parents added, owners 0, fixed mtime, sequential inodes", () => {
    const entries = readCpio(concat(writeCpio(sample(), 1234)));
    expect(entries.map((e) => e.path)).toEqual(["a-b", "bin", "bin/sh", "dev", "dev/console", "init", "usr", "usr/bin", "usr/bin/z"]);
    expect(entries.map((e) => e.ino)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const e of entries) {
      expect([e.uid, e.gid, e.mtime]).toEqual([0, 0, 1234]);
    }
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(new TextDecoder().decode(byPath.get("bin/sh")!.data)).toBe("/bin/busybox");
    expect(byPath.get("bin/sh")!.mode).toBe(cpioModes.S_IFLNK | 0o777);
    expect(byPath.get("usr/bin/z")!.mode).toBe(cpioModes.S_IFREG | 0o755);
    expect(byPath.get("usr")!.mode).toBe(cpioModes.S_IFDIR | 0o755);
    expect(byPath.get("dev/console")!.mode & 0o170000).toBe(cpioModes.S_IFCHR);
    expect([byPath.get("dev/console")!.rdevmajor, byPath.get("dev/console")!.rdevminor]).toEqual([5, 1]);
    expect([...byPath.get("a-b")!.data]).toEqual([1, 2, 3]);
  });

  test("same entries in any order give identical bytes; a changed mtime does not", () => {
    const a = concat(writeCpio(sample()));
    const b = concat(writeCpio([...sample()].reverse()));
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(a, concat(writeCpio(sample(), 1)))).not.toBe(0);
    expect(a.length % 4).toBe(0);
  });

  test.skipIf(!Bun.which("cpio"))("matches GNU cpio's reading of the archive (needs cpio)", () => {
    const r = Bun.spawnSync(["cpio", "-t", "--quiet"], { stdin: concat(writeCpio(sample())), stdout: "pipe" });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString().trim().split("\n")).toContain("usr/bin/z");
  });

  test("rejects duplicates, path traversal and a file used as a directory", () => {
    expect(() => writeCpio([{ path: "x", type: "dir" }, { path: "./x", type: "dir" }])).toThrow(/duplicate entry "x"/);
    expect(() => writeCpio([{ path: "../etc/passwd", type: "dir" }])).toThrow(/without empty/);
    expect(() => writeCpio([{ path: "f", type: "file", data: new Uint8Array() }, { path: "f/g", type: "dir" }])).toThrow(/"f" is a file/);
  });

  test("reader reports truncation and a bad magic", () => {
    const a = concat(writeCpio(sample()));
    expect(() => readCpio(a.subarray(0, 200))).toThrow(/truncated|past the end/);
    const bad = a.slice();
    bad[0] = 0x41;
    expect(() => readCpio(bad)).toThrow(/expected magic 070701/);
  });
});
