// A VM's directory goes with it, but a state file (corrupt, or planted by someone who can write the
// state dir) never makes a backend delete anything outside <vmsDir>/<vm id>.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VmInfo } from "../backend.ts";
import { QemuBackend } from "./qemu.ts";
import { removeVmWorkDir } from "./tracked.ts";

let root: string;
let vmsDir: string;
let outside: string;

const info = (id: string, workDir: string, backend = "qemu"): VmInfo => ({
  id,
  backend,
  computationId: "c1",
  agentPort: 1,
  pid: 2 ** 22 + 12345, // above pid_max's default: never alive
  channelPaths: { manifest: "", events: "" },
  workDir,
  manifestHash: "",
  startedAt: new Date(0).toISOString(),
  extra: { qmpSocket: join(workDir, "qmp.sock") },
});

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "vmdir-"));
  vmsDir = join(root, "vms");
  outside = join(root, "precious");
  mkdirSync(join(vmsDir, "vm-1"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, "keep.txt"), "keep");
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("removeVmWorkDir", () => {
  test("removes <vmsDir>/<id>", () => {
    removeVmWorkDir(vmsDir, info("vm-1", join(vmsDir, "vm-1")));
    expect(existsSync(join(vmsDir, "vm-1"))).toBe(false);
  });

  test("leaves a directory outside vmsDir, another VM's directory, and vmsDir itself alone", () => {
    removeVmWorkDir(vmsDir, info("vm-1", outside));
    removeVmWorkDir(vmsDir, info("vm-2", join(vmsDir, "vm-1")));
    removeVmWorkDir(vmsDir, info("vm-1", join(vmsDir, "vm-1", "..", "..", "precious")));
    removeVmWorkDir(vmsDir, info("vms", vmsDir));
    expect(existsSync(join(outside, "keep.txt"))).toBe(true);
    expect(existsSync(join(vmsDir, "vm-1"))).toBe(true);
  });
});

test("QEMU re-adoption of a dead VM whose state names a foreign directory deletes nothing there", async () => {
  const qemu = new QemuBackend({ vmsDir });
  expect(await qemu.adopt(info("vm-1", outside))).toBe(false);
  expect(existsSync(join(outside, "keep.txt"))).toBe(true);
  expect(await qemu.adopt(info("vm-1", join(vmsDir, "vm-1")))).toBe(false);
  expect(existsSync(join(vmsDir, "vm-1"))).toBe(false);
});
