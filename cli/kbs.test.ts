import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CliContext } from "./context.ts";
import { runCli } from "./program.ts";

async function cli(env: Record<string, string>, ...argv: string[]) {
  const dir = mkdtempSync(join(tmpdir(), "cocos-cli-kbs-"));
  writeFileSync(join(dir, "k"), new Uint8Array(32));
  writeFileSync(join(dir, "p.json"), JSON.stringify({ policy: { measurement: "00".repeat(48) } }));
  const err: string[] = [];
  const c: CliContext = { out: () => {}, err: (l) => err.push(l), cwd: dir, env, tty: false };
  try {
    const { code } = await runCli(argv, c);
    return { code, err: err.join("\n") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("kbs put refuses without the admin token, a bad path, an unreachable KBS — each saying what it expected", async () => {
  const noToken = await cli({}, "kbs", "put", "default/key/a", "k", "--policy", "p.json", "--url", "http://127.0.0.1:9");
  expect(noToken.err).toContain("KBS_ADMIN_TOKEN is not set");
  const badPath = await cli({ KBS_ADMIN_TOKEN: "t" }, "kbs", "put", "default/../a", "k", "--policy", "p.json", "--url", "http://127.0.0.1:9");
  expect(badPath.err).toContain('expected "repository/type/tag"');
  const dead = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const url = `http://127.0.0.1:${dead.port}`;
  dead.stop(true);
  const down = await cli({ KBS_ADMIN_TOKEN: "t" }, "kbs", "put", "default/key/a", "k", "--policy", "p.json", "--url", url);
  expect(down.code).not.toBe(0);
  expect(down.err).toContain("unreachable");
});
