// How a manager names itself to the console (manager/server-link.ts linkMetadata).
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { linkMetadata } from "../manager/server-link.ts";

test("a manager keeps one id across restarts (state dir), MANAGER_ID overrides it, the token travels when set", () => {
  const dir = mkdtempSync(join(tmpdir(), "manager-id-"));
  try {
    const a = linkMetadata({ stateDir: dir, managerId: "", consoleToken: "", backend: "process" });
    const b = linkMetadata({ stateDir: dir, managerId: "", consoleToken: "tok", backend: "process" });
    expect(a["cocos-manager-id"]).toMatch(/^manager-[0-9a-f-]{36}$/);
    expect(b["cocos-manager-id"]).toBe(a["cocos-manager-id"]!);
    expect(a["cocos-manager-token"]).toBeUndefined();
    expect(b["cocos-manager-token"]).toBe("tok");
    expect(linkMetadata({ stateDir: dir, managerId: "edge-1", consoleToken: "", backend: "qemu" })).toEqual({ "cocos-manager-id": "edge-1", "cocos-manager-backend": "qemu" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
