import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { measureLaunch, simMeasurement } from "./measurement.ts";

const d = (b: number) => new Uint8Array(32).fill(b);

test("sim measurement is 48 bytes and changes with every input", () => {
  const base = simMeasurement({ kernelSha256: d(1), initrdSha256: d(2), cmdline: "console=ttyS0" });
  expect(base.length).toBe(48);
  expect(Buffer.from(simMeasurement({ kernelSha256: d(1), initrdSha256: d(2), cmdline: "console=ttyS0" })).equals(base)).toBe(true);
  for (const other of [
    { kernelSha256: d(9), initrdSha256: d(2), cmdline: "console=ttyS0" },
    { kernelSha256: d(1), initrdSha256: d(9), cmdline: "console=ttyS0" },
    { kernelSha256: d(1), initrdSha256: d(2), cmdline: "console=ttyS0 cocos.x=1" },
    { kernelSha256: d(1), initrdSha256: d(2), cmdline: "console=ttyS0", firmwareSha256: d(3) },
  ])
    expect(Buffer.from(simMeasurement(other)).equals(base)).toBe(false);
  expect(() => simMeasurement({ kernelSha256: new Uint8Array(31), initrdSha256: d(2), cmdline: "" })).toThrow(/32-byte SHA-256 of the kernel, got 31/);
});

test("measureLaunch hashes the files it is given", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cocos-meas-"));
  try {
    writeFileSync(join(dir, "k"), "kernel");
    writeFileSync(join(dir, "i"), "initrd");
    const m = await measureLaunch({ kernel: join(dir, "k"), initrd: join(dir, "i"), cmdline: "c" });
    const sha = (s: string) => new Uint8Array(new Bun.CryptoHasher("sha256").update(s).digest());
    expect(Buffer.from(m.measurement).equals(Buffer.from(simMeasurement({ kernelSha256: sha("kernel"), initrdSha256: sha("initrd"), cmdline: "c" })))).toBe(true);
    writeFileSync(join(dir, "i"), "initrd-changed");
    const m2 = await measureLaunch({ kernel: join(dir, "k"), initrd: join(dir, "i"), cmdline: "c" });
    expect(Buffer.from(m2.measurement).equals(Buffer.from(m.measurement))).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
