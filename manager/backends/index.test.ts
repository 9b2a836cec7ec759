import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadManagerConfig } from "../config.ts";
import { createBackend } from "./index.ts";

describe("backend selection", () => {
  const dir = mkdtempSync(join(tmpdir(), "cocos-bsel-"));
  const cfg = (backend: string) => loadManagerConfig({ MANAGER_STATE_DIR: dir, MANAGER_BACKEND: backend });

  test("auto: qemu when its preflight passes, else process with the preflight's reason", async () => {
    const q = await createBackend(cfg("auto"), () => undefined);
    expect(q.backend.name).toBe("qemu");
    expect(q.reason).toBe("auto: QEMU, a guest kernel and an initramfs are present");
    const p = await createBackend(cfg("auto"), () => "guest kernel not found: expected a file at /x/vmlinux");
    expect(p.backend.name).toBe("process");
    expect(p.reason).toBe("auto: using the process backend (guest kernel not found: expected a file at /x/vmlinux)");
  });

  test("explicit names are honoured without a preflight", async () => {
    expect((await createBackend(cfg("qemu"), () => "never asked")).backend.name).toBe("qemu");
    expect((await createBackend(cfg("process"), () => undefined)).backend.name).toBe("process");
    rmSync(dir, { recursive: true, force: true });
  });
});
