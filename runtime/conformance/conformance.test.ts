// WASI preview-1 conformance: the C cases in cases/ (modelled on WebAssembly/wasi-testsuite's
// preview-1 tests, see README.md) are compiled at test time, run under wasmtime (the reference:
// every expectation in them is what wasmtime answers) and under our runtime, each in a fresh
// preopened directory at fd 3. Both must print the same per-check lines and pass.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runWasm } from "../wasm-engine.ts";
import { runUnderWasmtime, wasmtimeForTests } from "./wasmtime.ts";

const CASES_DIR = join(import.meta.dir, "cases");
const CASES = readdirSync(CASES_DIR).filter((f) => f.endsWith(".c")).map((f) => f.slice(0, -2)).sort();
const ARGS = ["a", "bc"];
const ENV = { A: "1", BC: "23" };
const build = mkdtempSync(join(tmpdir(), "cocos-conformance-"));
const scratch: string[] = [];
let python = "";
let skip = "";

/** A fresh preopen; for the escapes case with a host-made link to a file beside (outside) it. */
const freshDir = (c: string) => {
  const base = mkdtempSync(join(tmpdir(), "cocos-conf-dir-"));
  scratch.push(base);
  const d = join(base, "sandbox");
  mkdirSync(d);
  if (c === "escapes") {
    mkdirSync(join(base, "outside"));
    writeFileSync(join(base, "outside", "target"), "outside the preopen");
    utimesSync(join(base, "outside", "target"), 1_000_000, 1_000_000);
    symlinkSync("../outside/target", join(d, "out-link"));
  }
  return d;
};
const outsideUntouched = (preopen: string) => statSync(join(preopen, "..", "outside", "target")).mtimeMs === 1_000_000_000;

beforeAll(async () => {
  const w = await wasmtimeForTests();
  if ("missing" in w) skip = w.missing;
  else python = w.python;
  await Promise.all(
    CASES.map(async (c) => {
      const p = Bun.spawn(["clang", "--target=wasm32-wasi", "-O1", "-Wno-unused-result", join(CASES_DIR, `${c}.c`), "-o", join(build, `${c}.wasm`)], { stderr: "pipe" });
      if ((await p.exited) !== 0) throw new Error(`clang ${c}.c: ${await new Response(p.stderr).text()}`);
    }),
  );
}, 120_000);

afterAll(() => {
  for (const d of [build, ...scratch]) rmSync(d, { recursive: true, force: true });
});

async function ours(file: string, preopen: string) {
  let stdout = "";
  const o = await runWasm(await Bun.file(file).bytes(), {
    argv: [file.split("/").pop()!, ...ARGS],
    env: ENV,
    preopens: [{ guestPath: "fs-tests.dir", hostPath: preopen, readOnly: false }],
    onStdout: (d) => (stdout += new TextDecoder().decode(d)),
  });
  return { outcome: o.kind === "exit" ? o.code : `${o.kind}: ${"message" in o ? o.message : ""}`, stdout };
}

describe("WASI preview-1 cases, wasmtime vs our runtime", () => {
  for (const c of CASES) {
    test(c, async () => {
      const file = join(build, `${c}.wasm`);
      const preopen = freshDir(c);
      const mine = await ours(file, preopen);
      if (c === "escapes") expect(outsideUntouched(preopen)).toBe(true);
      if (skip) {
        console.warn(`SKIP wasmtime comparison (wasmtime unavailable: ${skip})`);
      } else {
        const ref = await runUnderWasmtime(python, file, { args: ARGS, env: ENV, dirs: [[freshDir(c), "fs-tests.dir"]] });
        expect({ outcome: ref.code, stdout: ref.stdout }).toEqual({ outcome: 0, stdout: expect.stringContaining("PASSED") });
        expect(mine.stdout).toBe(ref.stdout);
      }
      expect(mine).toEqual({ outcome: 0, stdout: expect.stringMatching(/PASSED\n$/) });
    }, 60_000);
  }
});
