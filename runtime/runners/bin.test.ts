import { afterEach, describe, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { binRunner } from "./bin.ts";
import { makeWorkDir, marker, processesWith, show, type WorkDir } from "./testing.ts";

const dirs: WorkDir[] = [];
async function work(script: string, datasets?: Record<string, string>) {
  const w = await makeWorkDir(script, datasets);
  dirs.push(w);
  return w;
}
afterEach(async () => {
  for (const w of dirs.splice(0)) await w.remove();
});

describe("bin runner", () => {
  test("runs ./algo with args in the Cocos layout, logs stdout and stderr lines", async () => {
    const w = await work(
      `#!/bin/sh\necho "args:$1|$2"\necho oops >&2\ncat datasets/in.txt > results/out.txt\nprintf tail`,
      { "in.txt": "dataset-bytes" },
    );
    const outcome = await binRunner.run(w.spec("bin", { args: ["a b", "c"] }));
    expect(outcome).toMatchObject({ kind: "exit", code: 0 });
    expect(await readFile(join(w.resultsDir, "out.txt"), "utf8")).toBe("dataset-bytes");
    expect(w.logs).toContainEqual({ stream: "stdout", line: "args:a b|c" });
    expect(w.logs).toContainEqual({ stream: "stderr", line: "oops" });
    expect(w.logs).toContainEqual({ stream: "stdout", line: "tail" });
  });

  test("a non-zero exit code arrives exactly", async () => {
    const w = await work("#!/bin/sh\nexit 42\n");
    expect(await binRunner.run(w.spec("bin"))).toMatchObject({ kind: "exit", code: 42 });
  });

  test("the host environment does not leak; spec.env does arrive", async () => {
    process.env.COCOS_HOST_SECRET = "host-secret-value";
    try {
      const w = await work("#!/bin/sh\nenv\n");
      const outcome = await binRunner.run(w.spec("bin", { env: { GUEST_VAR: "guest" } }));
      expect(outcome).toMatchObject({ kind: "exit", code: 0 });
      const lines = w.logs.map((l) => l.line);
      expect(lines).toContain("GUEST_VAR=guest");
      expect(lines.join("\n")).not.toContain("host-secret-value");
      expect(lines).toContain("HOME=/tmp");
    } finally {
      delete process.env.COCOS_HOST_SECRET;
    }
  });

  test("a timeout kills the program and its children", async () => {
    const mark = marker();
    const w = await work('#!/bin/sh\nsleep "$1" &\necho started > results/child\nwhile :; do :; done\n');
    const outcome = await binRunner.run(w.spec("bin", { args: [mark], limits: { timeoutMs: 500 } }));
    expect(outcome).toMatchObject({ kind: "limit", limit: "timeout" });
    expect(await readFile(join(w.resultsDir, "child"), "utf8")).toBe("started\n");
    expect(processesWith(mark)).toEqual([]);
  });

  test("children the program leaves behind are killed when it exits", async () => {
    const mark = marker();
    const w = await work('#!/bin/sh\nsleep "$1" >/dev/null 2>&1 &\necho started > results/child\nexit 0\n');
    expect(await binRunner.run(w.spec("bin", { args: [mark] }))).toMatchObject({ kind: "exit", code: 0 });
    expect(await readFile(join(w.resultsDir, "child"), "utf8")).toBe("started\n");
    expect(processesWith(mark)).toEqual([]);
  });

  test("a stdio flood hits the cap", async () => {
    const w = await work("#!/bin/sh\nexec yes flood\n");
    const outcome = await binRunner.run(w.spec("bin", { limits: { maxStdioBytes: 256 * 1024 } }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "limit", limit: "stdio-size" });
    // Only bytes under the cap reach the log: lines plus their newlines, the last line may lack one.
    const logged = w.logs.reduce((n, l) => n + l.line.length + 1, 0);
    expect(logged).toBeLessThanOrEqual(256 * 1024 + 1);
    expect(logged).toBeGreaterThan(200 * 1024);
  });

  test("a results flood over many files hits the cap", async () => {
    const w = await work(
      "#!/bin/sh\ni=0\nwhile :; do head -c 65536 /dev/zero > results/f$i; i=$((i+1)); done\n",
    );
    const outcome = await binRunner.run(w.spec("bin", { limits: { maxResultsBytes: 1024 * 1024, timeoutMs: 30_000 } }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "limit", limit: "results-size" });
  });

  test("one file growing past the results cap is stopped by RLIMIT_FSIZE", async () => {
    const w = await work("#!/bin/sh\nexec cat /dev/zero > results/big\n");
    const outcome = await binRunner.run(w.spec("bin", { limits: { maxResultsBytes: 512 * 1024, timeoutMs: 30_000 } }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "limit", limit: "results-size" });
  });

  test("the address-space cap stops a large allocation", async () => {
    // 512 MiB bytearray under a 256 MiB RLIMIT_AS: MemoryError instead of success.
    const w = await work("#!/usr/bin/python3\nb = bytearray(512 * 1024 * 1024)\nprint('allocated')\n");
    const outcome = await binRunner.run(w.spec("bin", { limits: { memoryBytes: 256 * 1024 * 1024 } }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "exit", code: 1 });
    expect(w.logs.map((l) => l.line).join("\n")).toContain("MemoryError");
  });

  test("a signal death is reported as a trap with the signal name", async () => {
    const w = await work("#!/bin/sh\nkill -SEGV $$\n");
    const outcome = await binRunner.run(w.spec("bin"));
    expect(outcome).toMatchObject({ kind: "trap", message: "terminated by signal SIGSEGV" });
  });

  test("abort stops the run", async () => {
    const w = await work("#!/bin/sh\nsleep 300\n");
    const controller = new AbortController();
    setTimeout(() => controller.abort("computation stopped"), 200);
    const outcome = await binRunner.run(w.spec("bin", { signal: controller.signal }));
    expect(outcome).toMatchObject({ kind: "aborted", message: "aborted: computation stopped" });
  });

  test("a file that cannot be executed ends as a failed run, not a thrown error", async () => {
    const w = await makeWorkDir(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0])); // truncated ELF
    dirs.push(w);
    const outcome = await binRunner.run(w.spec("bin"));
    expect(outcome.kind === "exit" && outcome.code !== 0, show(outcome)).toBe(true);
  });
});
