import { afterAll, describe, expect, test } from "bun:test";
import { zipSync, strToU8 } from "fflate";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashPath, sha3_256, toHex } from "./hash.ts";
import { unzipInto, zipDirectory, ZipError } from "./zip.ts";

const root = mkdtempSync(join(tmpdir(), "zip-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(root, `d${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

function sampleTree(): string {
  const d = fresh();
  mkdirSync(join(d, "sub", "deep"), { recursive: true });
  writeFileSync(join(d, "b.csv"), "x,y\n1,2\n");
  writeFileSync(join(d, "a.txt"), "hello");
  writeFileSync(join(d, "sub", "deep", "c.bin"), new Uint8Array(5000).fill(7));
  return d;
}

/** Patches the central-directory external attributes of every entry (to forge a symlink). */
function setUnixMode(zip: Uint8Array, mode: number): Uint8Array {
  const out = zip.slice();
  const dv = new DataView(out.buffer);
  for (let i = 0; i + 4 <= out.length; i++) {
    if (dv.getUint32(i, true) === 0x02014b50) {
      dv.setUint16(i + 4, (3 << 8) | 20, true);
      dv.setUint32(i + 38, (mode << 16) >>> 0, true);
    }
  }
  return out;
}

describe("zipDirectory", () => {
  test("same tree twice → same bytes, also after mtimes change and in another directory", async () => {
    const a = sampleTree();
    const z1 = await zipDirectory(a);
    const z2 = await zipDirectory(a);
    expect(toHex(sha3_256(z1))).toBe(toHex(sha3_256(z2)));
    utimesSync(join(a, "a.txt"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const b = sampleTree();
    expect(Buffer.compare(await zipDirectory(a), z1)).toBe(0);
    expect(Buffer.compare(await zipDirectory(b), z1)).toBe(0);
    expect(toHex(await hashPath(a))).toBe(toHex(sha3_256(z1)));
  });

  test("content change changes the bytes; entries are sorted, relative, files only", async () => {
    const a = sampleTree();
    const z1 = await zipDirectory(a);
    writeFileSync(join(a, "a.txt"), "hellO");
    expect(Buffer.compare(await zipDirectory(a), z1)).not.toBe(0);
    const out = fresh();
    expect(await unzipInto(z1, out)).toEqual(["a.txt", "b.csv", "sub/deep/c.bin"]);
    expect(readFileSync(join(out, "a.txt"), "utf8")).toBe("hello");
  });

  test.skipIf(!Bun.which("unzip"))("Info-ZIP unzip accepts the archive (skipped without unzip)", async () => {
    const a = sampleTree();
    const zipPath = join(fresh(), "t.zip");
    writeFileSync(zipPath, await zipDirectory(a));
    expect(Bun.spawnSync(["unzip", "-t", zipPath]).exitCode).toBe(0);
  });
});

describe("unzipInto refuses hostile archives and leaves nothing behind", () => {
  const refuse = async (zip: Uint8Array, pattern: RegExp, limits = {}) => {
    const dest = fresh();
    writeFileSync(join(dest, "existing"), "keep");
    let err: unknown;
    try {
      await unzipInto(zip, dest, limits);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ZipError);
    expect((err as Error).message).toMatch(pattern);
    expect(readdirSync(dest)).toEqual(["existing"]);
  };
  const bytes = strToU8("data");

  test("../ zip slip", () => refuse(zipSync({ "../evil.txt": bytes }), /'\.\.' path segment/));
  test("nested ../", () => refuse(zipSync({ "a/../../evil.txt": bytes }), /'\.\.'/));
  test("absolute path", () => refuse(zipSync({ "/etc/evil": bytes }), /absolute/));
  test("backslash trick", () => refuse(zipSync({ "..\\evil.txt": bytes }), /backslash/));
  test("drive letter", () => refuse(zipSync({ "C:evil.txt": bytes }), /drive-letter/));
  test("symlink entry", () => refuse(setUnixMode(zipSync({ link: strToU8("/etc/passwd") }), 0o120777), /symbolic link/));
  test("too many entries", () => {
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 20; i++) files[`f${i}`] = bytes;
    return refuse(zipSync(files), /20 entries, limit is 10/, { maxEntries: 10 });
  });
  test("declared size over the limit (bomb)", () =>
    refuse(zipSync({ big: new Uint8Array(4 << 20) }, { level: 9 }), /declares .* limit is 1048576/, { maxBytes: 1 << 20 }));
  test("declared size smaller than the real data (lying header)", () => {
    const z = zipSync({ big: new Uint8Array(200_000) }, { level: 9 });
    const dv = new DataView(z.buffer);
    for (let i = 0; i + 4 <= z.length; i++) {
      if (dv.getUint32(i, true) === 0x02014b50) dv.setUint32(i + 24, 100, true);
    }
    return refuse(z, /inflates past its declared size/);
  });
  test("overlapping entries (non-recursive bomb)", () => {
    const z = zipSync({ a: new Uint8Array(1000), b: new Uint8Array(1000) }, { level: 9 });
    const dv = new DataView(z.buffer);
    const cds: number[] = [];
    for (let i = 0; i + 4 <= z.length; i++) if (dv.getUint32(i, true) === 0x02014b50) cds.push(i);
    dv.setUint32(cds[1]! + 42, dv.getUint32(cds[0]! + 42, true), true); // b's header → a's data
    return refuse(z, /overlap|corrupt|duplicate/);
  });
  test("would overwrite an existing file", () => refuse(zipSync({ existing: bytes }), /overwrite an existing file/));
  test("not a zip", () => refuse(strToU8("definitely not a zip archive"), /not a zip/));
});
