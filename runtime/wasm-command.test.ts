import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildGuest, clangUnavailable } from "./testdata/build.ts";
import { parseArgs } from "./wasm-command.ts";

setDefaultTimeout(60_000);

const noClang = clangUnavailable();
const COMMAND = join(import.meta.dir, "wasm-command.ts");
let dir: string;
let guest: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cocos-wasm-cmd-"));
  if (!noClang) guest = await buildGuest("guest");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runCommand(args: string[]) {
  const env = { PATH: process.env.PATH ?? "", COCOS_WASM_CACHE: join(dir, "cache") };
  const p = Bun.spawnSync(["bun", COMMAND, ...args], { env, timeout: 60_000 });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

describe("argument parsing", () => {
  test("--dir HOST::GUEST, --env, options after `--`, args after FILE", () => {
    const c = parseArgs(["--", "run", "--dir", "/a::/data", "--dir=/b", "--env", "K=v=w", "f.wasm", "--not-an-option", "x"]);
    expect(c.file).toBe("f.wasm");
    expect(c.args).toEqual(["--not-an-option", "x"]);
    expect(c.preopens).toEqual([
      { hostPath: "/a", guestPath: "/data", readOnly: false },
      { hostPath: "/b", guestPath: "/b", readOnly: false },
    ]);
    expect(c.env).toEqual({ K: "v=w" });
    expect(parseArgs(["run", "--no-cache", "f.wasm"]).cacheDir).toBeUndefined();
  });

  test("usage errors name what was expected", () => {
    expect(() => parseArgs(["exec", "f.wasm"])).toThrow(/expected the subcommand "run", got "exec"/);
    expect(() => parseArgs(["run", "--env", "NOEQUALS", "f.wasm"])).toThrow(/--env expects NAME=VALUE/);
    expect(() => parseArgs(["run"])).toThrow(/missing FILE/);
  });
});

describe.skipIf(!!noClang)("wasm run (subprocess)", () => {
  test("exit status is the guest's, stdout passes through, arbitrary --dir and --env", () => {
    const data = join(dir, "data");
    const out = join(dir, "out");
    mkdirSync(data, { recursive: true });
    mkdirSync(out, { recursive: true });
    writeFileSync(join(data, "data.txt"), "from-host");
    // The guest reads /datasets/data.txt and writes /results/out-Z.txt.
    const r = runCommand(["run", "--dir", `${data}::/datasets`, "--dir", `${out}::/results`, "--env", "WHO=zed", guest, "echo", "Z"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("arg 2 Z\n");
    expect(r.stdout).toContain("env WHO=zed HOME=(unset)\n");
    expect(r.stdout).toContain("dataset from-host\n");
    expect(readFileSync(join(out, "out-Z.txt"), "utf8")).toBe("zed");
    expect(runCommand(["run", guest, "exit", "42"]).code).toBe(42);
  }, 120_000);

  test("a trap is reported on stderr with a non-zero status; bad input is a clear error", () => {
    const t = runCommand(["run", guest, "unreachable"]);
    expect(t.code).toBe(134);
    expect(t.stderr).toMatch(/wasm: trap: .*[Uu]nreachable/);
    const bad = join(dir, "bad.wasm");
    writeFileSync(bad, "not wasm at all");
    const b = runCommand(["run", bad]);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain("not a WebAssembly binary");
  }, 120_000);
});
