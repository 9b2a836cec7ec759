import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildGuest, clangUnavailable } from "./testdata/build.ts";
import { AlgorithmError, type RunLimits, type RunSpec } from "./types.ts";
import { prepareWasmSpec, runWasmSpec } from "./wasm-runner.ts";
import { sha3Hex } from "./load.ts";
import { loadWasm } from "./load.ts";
import { buildInferenceComponent } from "./testdata/build.ts";

setDefaultTimeout(60_000);

const noClang = clangUnavailable();
let root: string;
let guest: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "cocos-wasm-test-"));
  if (!noClang) guest = await buildGuest("guest");
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let seq = 0;
function layout() {
  const dir = join(root, `run-${++seq}`);
  const datasets = join(dir, "datasets");
  const results = join(dir, "results");
  mkdirSync(datasets, { recursive: true });
  mkdirSync(results, { recursive: true });
  writeFileSync(join(datasets, "data.txt"), "dataset-content");
  writeFileSync(join(dir, "outside.txt"), "SECRET-OUTSIDE");
  return { dir, datasets, results };
}

async function run(args: string[], opts: { limits?: Partial<RunLimits>; env?: Record<string, string>; file?: string } = {}) {
  const l = layout();
  const lines: string[] = [];
  const errs: string[] = [];
  const spec: RunSpec = {
    algoType: "wasm",
    algorithmPath: opts.file ?? guest,
    args,
    env: opts.env,
    datasetsDir: l.datasets,
    resultsDir: l.results,
    workDir: l.dir,
    limits: { timeoutMs: 30_000, ...opts.limits },
    onLog: (s, line) => (s === "stdout" ? lines : errs).push(line),
  };
  return { l, lines, errs, spec };
}

describe.skipIf(!!noClang)("wasm runner: the prepare step", () => {
  test("prepare reads the file once; its run needs no file (the agent moves it) and runs again", async () => {
    const copy = join(root, "prepared.wasm");
    writeFileSync(copy, readFileSync(guest));
    const prepared = await prepareWasmSpec(copy, { sha3: sha3Hex(readFileSync(copy)) });
    rmSync(copy);
    for (const who of ["a", "b"]) {
      const r = await run(["echo", who], { file: copy });
      const o = await prepared.run(r.spec);
      expect(o).toMatchObject({ kind: "exit", code: 0 });
      expect(r.lines).toContain(`arg 2 ${who}`);
    }
  });

  test("a file that is not Wasm is refused at prepare, before any run", async () => {
    const bad = join(root, "bad-prepare.wasm");
    writeFileSync(bad, "#!/bin/sh\necho not wasm\n");
    await expect(prepareWasmSpec(bad)).rejects.toBeInstanceOf(AlgorithmError);
  });
});

describe.skipIf(!!noClang)("wasm runner (C guests)", () => {
  test("args, env, results, '.' → results, datasets readable; nothing from the host env", async () => {
    const r = await run(["echo", "A"], { env: { WHO: "alice" } });
    const o = await runWasmSpec(r.spec);
    expect(o.kind).toBe("exit");
    expect(o.kind === "exit" && o.code).toBe(0);
    expect(r.lines).toContain("arg 1 echo");
    expect(r.lines).toContain("arg 2 A");
    expect(r.lines).toContain("env WHO=alice HOME=(unset)");
    expect(r.lines).toContain("dataset dataset-content");
    expect(readFileSync(join(r.l.results, "out-A.txt"), "utf8")).toBe("alice");
    expect(readFileSync(join(r.l.results, "relative.txt"), "utf8")).toBe("dot");
  });

  test("exit(3) arrives as 3", async () => {
    const r = await run(["exit", "3"]);
    const o = await runWasmSpec(r.spec);
    expect(o).toMatchObject({ kind: "exit", code: 3 });
  });

  test("malloc from the initial heap does not corrupt the preview-1 adapter (old wasi-libc)", async () => {
    const r = await run(["heap"]);
    expect(await runWasmSpec(r.spec)).toMatchObject({ kind: "exit", code: 0 });
    expect(r.lines).toContain("stat 0");
  });

  test("unreachable and integer division by zero are traps, the host survives", async () => {
    const a = await runWasmSpec((await run(["unreachable"])).spec);
    expect(a.kind).toBe("trap");
    expect(a.kind === "trap" && a.message).toMatch(/unreachable/i);
    const b = await runWasmSpec((await run(["div0"])).spec);
    expect(b.kind).toBe("trap");
    expect(b.kind === "trap" && b.message).toMatch(/divi/i);
  });

  test("an infinite loop is killed at the timeout while the main thread keeps ticking", async () => {
    let ticks = 0;
    const iv = setInterval(() => ticks++, 10);
    const r = await run(["loop"], { limits: { timeoutMs: 1500 } });
    const o = await runWasmSpec(r.spec);
    clearInterval(iv);
    expect(o).toMatchObject({ kind: "limit", limit: "timeout" });
    expect(r.lines).toContain("looping");
    // 1.5 s of 10 ms ticks: a blocked main thread would have produced ~0.
    expect(ticks).toBeGreaterThan(30);
  });

  test("a guest blocked in sleep() is stopped at the timeout, and a run can be aborted", async () => {
    const r = await run(["sleep"], { limits: { timeoutMs: 1000 } });
    const started = Date.now();
    const o = await runWasmSpec(r.spec);
    expect(o).toMatchObject({ kind: "limit", limit: "timeout" });
    expect(r.lines).toContain("sleeping");
    // The outcome does not wait for the 100000 s sleep (a generous bound, not a timing assertion).
    expect(Date.now() - started).toBeLessThan(30_000);

    const a = await run(["loop"]);
    const ac = new AbortController();
    a.spec.signal = ac.signal;
    a.spec.onLog = (_s, line) => {
      if (line === "looping") ac.abort("computation stopped");
    };
    expect(await runWasmSpec(a.spec)).toMatchObject({ kind: "aborted", message: "run aborted: computation stopped" });
  });

  test("unbounded memory growth stops at the memory cap", async () => {
    const r = await run(["grow"], { limits: { memoryBytes: 64 * 1024 ** 2 } });
    const o = await runWasmSpec(r.spec);
    // Either malloc reports NULL or the preview-1 adapter traps when it cannot grow for its own
    // buffers; both end as the memory limit, not as the guest's exit or trap.
    expect(o).toMatchObject({ kind: "limit", limit: "memory" });
    expect(o.kind === "limit" && o.message).toContain(`${64 * 1024 ** 2}-byte cap`);
  });

  test("a small allocation failure far below the cap stays the guest's own exit", async () => {
    const r = await run(["exit", "1"], { limits: { memoryBytes: 64 * 1024 ** 2 } });
    expect(await runWasmSpec(r.spec)).toMatchObject({ kind: "exit", code: 1 });
  });

  test("a guest writing without end to results stops at the results cap", async () => {
    const r = await run(["fill-results"], { limits: { maxResultsBytes: 8 * 1024 ** 2 } });
    const o = await runWasmSpec(r.spec);
    expect(o).toMatchObject({ kind: "limit", limit: "results-size" });
    const size = Bun.file(join(r.l.results, "big.bin")).size;
    expect(size).toBeLessThanOrEqual(8 * 1024 ** 2);
  });

  test("a guest writing without end to stdout stops at the stdio cap", async () => {
    const r = await run(["fill-stdout"], { limits: { maxStdioBytes: 1024 ** 2 } });
    const o = await runWasmSpec(r.spec);
    expect(o).toMatchObject({ kind: "limit", limit: "stdio-size" });
    const bytes = r.lines.reduce((n, l) => n + l.length + 1, 0);
    expect(bytes).toBeLessThanOrEqual(1024 ** 2 + 1);
    expect(bytes).toBeGreaterThan(512 * 1024);
  });

  test("../ and symlink escapes are refused", async () => {
    const r = await run(["escape"]);
    symlinkSync("/etc/passwd", join(r.l.datasets, "abs-link"));
    symlinkSync("../outside.txt", join(r.l.datasets, "rel-link"));
    symlinkSync("/etc", join(r.l.datasets, "dir-link"));
    const o = await runWasmSpec(r.spec);
    expect(o).toMatchObject({ kind: "exit", code: 0 });
    const opened = r.lines.filter((l) => l.startsWith("OPENED"));
    expect(opened).toEqual([]);
    expect(r.lines.filter((l) => l.startsWith("DENIED")).length).toBe(10);
    expect(r.lines.some((l) => l.startsWith("DENIED swap"))).toBe(true);
    expect(r.lines).toContain("DENIED symlink-abs errno=63");
    expect(r.lines.some((l) => l.startsWith("DONE symlink-inside"))).toBe(true);
    expect(existsSync(join(r.l.dir, "escape.txt"))).toBe(false);
    expect(readdirSync(r.l.results).sort()).toEqual(["a", "b", "ok-link", "s"]);
  });

  test("/datasets is read-only: no create, append, write, truncate, unlink, mkdir, rename or hard link", async () => {
    const r = await run(["write-datasets"]);
    const o = await runWasmSpec(r.spec);
    expect(o).toMatchObject({ kind: "exit", code: 0 });
    expect(r.lines[0]).toBe("OPENED r /datasets/data.txt");
    expect(r.lines.slice(1).filter((l) => !l.startsWith("DENIED"))).toEqual([]);
    expect(readFileSync(join(r.l.datasets, "data.txt"), "utf8")).toBe("dataset-content");
    expect(readdirSync(r.l.datasets)).toEqual(["data.txt"]);
    expect(readdirSync(r.l.results)).toEqual([]);
  });

  test("two runs at once see only their own files, args and env", async () => {
    const a = await run(["echo", "A"], { env: { WHO: "alice" } });
    const b = await run(["echo", "B"], { env: { WHO: "bob" } });
    const [oa, ob] = await Promise.all([runWasmSpec(a.spec), runWasmSpec(b.spec)]);
    expect(oa).toMatchObject({ kind: "exit", code: 0 });
    expect(ob).toMatchObject({ kind: "exit", code: 0 });
    expect(a.lines).toContain("env WHO=alice HOME=(unset)");
    expect(b.lines).toContain("env WHO=bob HOME=(unset)");
    expect(a.lines.filter((l) => l.startsWith("file ")).sort()).toEqual(["file out-A.txt", "file relative.txt"]);
    expect(b.lines.filter((l) => l.startsWith("file ")).sort()).toEqual(["file out-B.txt", "file relative.txt"]);
    expect(a.lines.some((l) => l.includes("B"))).toBe(false);
  });

  test("a rerun in the spare Worker preloaded with the same component still sees only its own run", async () => {
    const a = await run(["echo", "A"], { env: { WHO: "alice" } });
    const oa = await runWasmSpec(a.spec);
    expect(oa).toMatchObject({ kind: "exit", code: 0 });
    await Bun.sleep(200); // let the spare boot and preload
    const b = await run(["echo", "B"], { env: { WHO: "bob" } });
    const ob = await runWasmSpec(b.spec);
    expect(ob).toMatchObject({ kind: "exit", code: 0 });
    expect(ob.timings.preloaded).toBe(true);
    expect(b.lines).toContain("arg 2 B");
    expect(b.lines).toContain("env WHO=bob HOME=(unset)");
    expect(b.lines.filter((l) => l.startsWith("file ")).sort()).toEqual(["file out-B.txt", "file relative.txt"]);
    expect(b.lines.some((l) => l.includes("alice") || l.includes("A.txt"))).toBe(false);
  });
});

describe("bad input", () => {
  test("not Wasm", async () => {
    const r = await run([], { file: join(root, "not.wasm") });
    writeFileSync(join(root, "not.wasm"), "#!/bin/sh\necho hi\n");
    await expect(runWasmSpec(r.spec)).rejects.toThrow(/not a WebAssembly binary: expected magic 00 61 73 6d/);
    await expect(runWasmSpec(r.spec)).rejects.toBeInstanceOf(AlgorithmError);
  });

  test.skipIf(!!noClang)("truncated module", async () => {
    const bytes = readFileSync(guest);
    writeFileSync(join(root, "trunc.wasm"), bytes.subarray(0, bytes.length >> 1));
    const r = await run([], { file: join(root, "trunc.wasm") });
    await expect(runWasmSpec(r.spec)).rejects.toThrow(/truncated/);
  });

  test.skipIf(!!noClang)("a core module with a foreign import names it", async () => {
    const src = join(root, "foreign.c");
    writeFileSync(
      src,
      `__attribute__((import_module("env"), import_name("host_secret"))) int host_secret(void);\nint main(void){return host_secret();}\n`,
    );
    const out = join(root, "foreign.wasm");
    const p = Bun.spawnSync(["clang", "--target=wasm32-wasi", "-O2", src, "-o", out]);
    expect(p.exitCode).toBe(0);
    await expect(loadWasm(readFileSync(out))).rejects.toThrow(/env\.host_secret \(func\)/);
  });

  test.skipIf(!!noClang)("a component whose imports cannot be satisfied names the missing import", async () => {
    const { componentEmbed, componentNew } = await import("@bytecodealliance/jco-transpile/wasm-tools");
    const src = join(root, "needs-http.c");
    writeFileSync(
      src,
      `__attribute__((import_module("acme:secrets/vault@1.0.0"), import_name("reveal"))) int reveal(void);\nint main(void){return reveal();}\n`,
    );
    const core = join(root, "needs-http.wasm");
    expect(Bun.spawnSync(["clang", "--target=wasm32-wasi", "-O2", src, "-o", core]).exitCode).toBe(0);
    const embedded = await componentEmbed({
      binary: readFileSync(core),
      witSource: `package acme:secrets@1.0.0;\ninterface vault { reveal: func() -> s32; }\nworld w { import vault; }`,
      world: "w",
    });
    const adapter = readFileSync(join(import.meta.dir, "assets/wasi_snapshot_preview1.command.wasm"));
    const component = await componentNew(embedded, [["wasi_snapshot_preview1", adapter]]);
    writeFileSync(join(root, "needs.component.wasm"), component);
    const r = await run([], { file: join(root, "needs.component.wasm") });
    await expect(runWasmSpec(r.spec)).rejects.toThrow(/component imports acme:secrets\/vault, which this runtime does not provide/);
  });
});

describe.skipIf(!!noClang)("cocos:computation worlds", () => {
  let component: string;
  beforeAll(async () => {
    component = await buildInferenceComponent();
  });

  test("inference: infer(args[0]) → results/results.txt, datasets and progress from the host", async () => {
    const r = await run(["hello"], { file: component });
    const progress: [number, string][] = [];
    r.spec.datasets = [{ name: "data.txt", hash: "0123456789abcdef".repeat(4) }];
    r.spec.onProgress = (f, m) => progress.push([f, m]);
    const o = await runWasmSpec(r.spec);
    expect(o).toMatchObject({ kind: "exit", code: 0 });
    // size comes from the datasets directory ("dataset-content" is 15 bytes).
    expect(readFileSync(join(r.l.results, "results.txt"), "utf8")).toBe("hello|1|data.txt:01234567:15");
    expect(progress).toEqual([
      [0.5, "halfway"],
      [1, "done"],
    ]);
  });

  test("inference: without a manifest list the host lists and hashes the datasets directory", async () => {
    const r = await run(["x"], { file: component });
    const o = await runWasmSpec(r.spec);
    expect(o).toMatchObject({ kind: "exit", code: 0 });
    const sha3 = new Bun.CryptoHasher("sha3-256").update("dataset-content").digest("hex");
    expect(readFileSync(join(r.l.results, "results.txt"), "utf8")).toBe(`x|1|data.txt:${sha3.slice(0, 8)}:15`);
  });

  test("inference: err(message) → stderr and exit code 1, no results.txt", async () => {
    const r = await run(["fail"], { file: component });
    const o = await runWasmSpec(r.spec);
    expect(o).toMatchObject({ kind: "exit", code: 1 });
    expect(r.errs).toEqual(["refused: input was fail"]);
    expect(existsSync(join(r.l.results, "results.txt"))).toBe(false);
  });
});
