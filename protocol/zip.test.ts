import { afterAll, describe, expect, test } from "bun:test";
import { strToU8, unzipSync, zipSync } from "fflate";
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants as zlibConstants, crc32, deflateRawSync } from "node:zlib";
import { hashPath, sha3_256, toHex } from "./hash.ts";
import { unzipFile, unzipInto, zipDirectory, ZipError, type UnzipLimits } from "./zip.ts";

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
  test("a file and an entry beneath it", () => refuse(zipSync({ a: bytes, "a/b": bytes }), /zip entry a\/b could not be written \((ENOTDIR|EEXIST)\)/));
});

/** A zip of one deflated entry of `size` zeros (a multiple of 1 MiB), built without holding it: full-flushed
 *  deflate blocks of 1 MiB of zeros are byte-identical, so the stream is one block repeated. */
function zerosZip(name: string, size: number, declared = size): Uint8Array {
  const MiB = 1 << 20;
  const zero = new Uint8Array(MiB);
  const block = deflateRawSync(zero, { level: 9, finishFlush: zlibConstants.Z_FULL_FLUSH });
  const blocks = size / MiB;
  let crc = 0;
  for (let i = 0; i < blocks; i++) crc = crc32(zero, crc);
  const compSize = block.length * blocks + 2;
  const nameBytes = strToU8(name);
  const local = new Uint8Array(30 + nameBytes.length);
  const ldv = new DataView(local.buffer);
  ldv.setUint32(0, 0x04034b50, true);
  ldv.setUint16(4, 20, true);
  ldv.setUint16(8, 8, true);
  ldv.setUint16(12, 0x21, true);
  ldv.setUint32(14, crc, true);
  ldv.setUint32(18, compSize, true);
  ldv.setUint32(22, declared, true);
  ldv.setUint16(26, nameBytes.length, true);
  local.set(nameBytes, 30);
  const cd = new Uint8Array(46 + nameBytes.length);
  const cdv = new DataView(cd.buffer);
  cdv.setUint32(0, 0x02014b50, true);
  cdv.setUint16(4, (3 << 8) | 20, true);
  cdv.setUint16(6, 20, true);
  cdv.setUint16(10, 8, true);
  cdv.setUint16(14, 0x21, true);
  cdv.setUint32(16, crc, true);
  cdv.setUint32(20, compSize, true);
  cdv.setUint32(24, declared, true);
  cdv.setUint16(28, nameBytes.length, true);
  cdv.setUint32(38, (0o100644 << 16) >>> 0, true);
  cd.set(nameBytes, 46);
  const cdOffset = local.length + compSize;
  const end = new Uint8Array(22);
  const edv = new DataView(end.buffer);
  edv.setUint32(0, 0x06054b50, true);
  edv.setUint16(8, 1, true);
  edv.setUint16(10, 1, true);
  edv.setUint32(12, cd.length, true);
  edv.setUint32(16, cdOffset, true);
  const out = new Uint8Array(cdOffset + cd.length + end.length);
  out.set(local, 0);
  for (let i = 0; i < blocks; i++) out.set(block, local.length + i * block.length);
  out.set([0x03, 0x00], local.length + blocks * block.length); // empty final block
  out.set(cd, cdOffset);
  out.set(end, cdOffset + cd.length);
  return out;
}

/**
 * unzipFile in a fresh Bun process that samples its own RSS throughout; returns the files (or the error)
 * and the largest growth over the value at the start. A fresh process, so what earlier tests left on
 * this process's heap does not move the figure.
 */
async function unzipMeasured(zipPath: string, dest: string, limits: UnzipLimits): Promise<{ files?: string[]; error?: string; growth: number }> {
  const code = `
    import { unzipFile } from ${JSON.stringify(join(import.meta.dir, "zip.ts"))};
    const { zipPath, dest, limits } = JSON.parse(process.env.UNZIP_ARGS);
    Bun.gc(true);
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const r = await unzipFile(zipPath, dest, limits).then((files) => ({ files }), (e) => ({ error: e.name + ": " + e.message }));
    clearInterval(timer);
    console.log(JSON.stringify({ ...r, growth: Math.max(peak, process.memoryUsage().rss) - base }));`;
  const p = Bun.spawn([process.execPath, "-e", code], { env: { ...process.env, UNZIP_ARGS: JSON.stringify({ zipPath, dest, limits }) }, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (!out.trim()) throw new Error(`measuring process failed: ${err}`);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

describe("unzipFile streams entries to disk with bounded memory", () => {
  const GiB = 1024 ** 3;

  test("a 2 GiB entry of zeros (2 MiB compressed) is extracted with RSS growth < 64 MiB", async () => {
    const dir = fresh();
    const zipPath = join(dir, "bomb.zip");
    writeFileSync(zipPath, zerosZip("zeros.bin", 2 * GiB));
    const dest = join(dir, "out");
    const { files, growth } = await unzipMeasured(zipPath, dest, { maxBytes: 3 * GiB });
    expect(files).toEqual(["zeros.bin"]);
    expect(statSync(join(dest, "zeros.bin")).size).toBe(2 * GiB);
    if (process.env.TEST_DEBUG) console.log(`RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(64 << 20);
  }, 60_000);

  test("an archive over the total or per-entry cap is refused from its central directory; nothing written", async () => {
    const dir = fresh();
    const zipPath = join(dir, "bomb.zip");
    writeFileSync(zipPath, zerosZip("zeros.bin", 64 << 20));
    await expect(unzipFile(zipPath, join(dir, "out"), { maxBytes: 32 << 20 })).rejects.toThrow(/declares .* limit is 33554432/);
    await expect(unzipFile(zipPath, join(dir, "out"), { maxEntryBytes: 16 << 20 })).rejects.toThrow(/declares 67108864 bytes, the limit per entry is 16777216/);
    expect(existsSync(join(dir, "out"))).toBe(false);
  });

  test("a central directory that lies (declares 1 MiB, inflates 1 GiB) is stopped while inflating, with bounded memory", async () => {
    const dir = fresh();
    const zipPath = join(dir, "liar.zip");
    writeFileSync(zipPath, zerosZip("zeros.bin", GiB, 1 << 20));
    const { error, growth } = await unzipMeasured(zipPath, join(dir, "out"), {});
    expect(error).toMatch(/^ZipError: zip entry zeros.bin inflates past its declared size 1048576/);
    expect(readdirSync(join(dir, "out"))).toEqual([]);
    expect(growth).toBeLessThan(64 << 20);
  });
});

describe("unzip refuses names that belong to someone else", () => {
  test("an entry whose top-level name is reserved → ZipError naming the owner; nothing written", async () => {
    const dest = fresh();
    const reserved = new Map([["two.csv", "is declared in the manifest for another dataset"]]);
    await expect(unzipInto(zipSync({ "ok.csv": strToU8("a"), "two.csv": strToU8("b") }), dest, { reserved })).rejects.toThrow(
      /zip entry two.csv refused: the name "two.csv" is declared in the manifest for another dataset/,
    );
    await expect(unzipInto(zipSync({ "two.csv/inner": strToU8("b") }), dest, { reserved })).rejects.toThrow(/"two.csv"/);
    expect(readdirSync(dest)).toEqual([]);
    expect(await unzipInto(zipSync({ "ok.csv": strToU8("a") }), dest, { reserved })).toEqual(["ok.csv"]);
  });
});

describe("zipDirectory for results", () => {
  test("symlinks, fifos and (when asked) hard links are left out and reported", async () => {
    const d = fresh();
    writeFileSync(join(d, "real.txt"), "mine");
    symlinkSync("/etc/passwd", join(d, "evil"));
    mkdirSync(join(d, "sub"));
    symlinkSync("/etc", join(d, "sub", "etc"));
    Bun.spawnSync(["mkfifo", join(d, "pipe")]);
    writeFileSync(join(d, "shared"), "x");
    linkSync(join(d, "shared"), join(d, "sub", "linked"));
    const skipped: string[] = [];
    const zip = await zipDirectory(d, { skipHardLinks: true, onSkipped: (n, k) => skipped.push(`${n}: ${k}`) });
    const names = Object.keys(unzipSync(zip));
    expect(names).toEqual(["real.txt"]);
    expect(skipped.sort()).toEqual(["evil: symbolic link", "pipe: special file", "shared: hard link", "sub/etc: symbolic link", "sub/linked: hard link"]);
    expect(new TextDecoder().decode(zip)).not.toContain("root:");
    // The CLI's directory hash is unchanged: hard links are kept there.
    expect(Object.keys(unzipSync(await zipDirectory(d))).sort()).toEqual(["real.txt", "shared", "sub/linked"]);
  });
});
