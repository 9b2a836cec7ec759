import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { zipSync } from "fflate";
import { pythonRunner } from "./python.ts";
import { makeWorkDir, marker, processesWith, show, type WorkDir } from "./testing.ts";

const unavailable = await pythonRunner.unavailable();
if (unavailable) console.warn(`python runner tests skipped: ${unavailable}`);

const dirs: WorkDir[] = [];
async function work(script: string, datasets?: Record<string, string>) {
  const w = await makeWorkDir(script, datasets);
  dirs.push(w);
  return w;
}
afterEach(async () => {
  for (const w of dirs.splice(0)) await w.remove();
});

/** A minimal pure-Python wheel, so requirement installs work without any package index. */
function wheel(name: string, version: string, module: string): { file: string; bytes: Uint8Array } {
  const dist = `${name}-${version}.dist-info`;
  const files: Record<string, Uint8Array> = {
    [`${name}/__init__.py`]: new TextEncoder().encode(module),
    [`${dist}/METADATA`]: new TextEncoder().encode(`Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`),
    [`${dist}/WHEEL`]: new TextEncoder().encode("Wheel-Version: 1.0\nGenerator: cocos-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
  };
  const record = Object.entries(files).map(([path, data]) => {
    const digest = new Bun.CryptoHasher("sha256").update(data).digest("base64url");
    return `${path},sha256=${digest},${data.length}`;
  });
  files[`${dist}/RECORD`] = new TextEncoder().encode([...record, `${dist}/RECORD,,`].join("\n") + "\n");
  return { file: `${name}-${version}-py3-none-any.whl`, bytes: zipSync(files) };
}

describe.skipIf(unavailable !== null)("python runner", () => {
  test("runs the script in a venv with args, empty requirements, results written, venv removed", async () => {
    const w = await work(
      [
        "import sys, os",
        "print('args', sys.argv[1:])",
        "print('venv', sys.prefix != sys.base_prefix)",
        "open('results/out.txt', 'w').write(open('datasets/in.txt').read().upper())",
        "print('to stderr', file=sys.stderr)",
      ].join("\n"),
      { "in.txt": "iris" },
    );
    const requirementsPath = join(w.dir, "requirements.txt");
    await writeFile(requirementsPath, "# nothing\n\n");
    const outcome = await pythonRunner.run(w.spec("python", { args: ["x", "y z"], requirementsPath }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "exit", code: 0 });
    expect(w.logs).toContainEqual({ stream: "stdout", line: "args ['x', 'y z']" });
    expect(w.logs).toContainEqual({ stream: "stdout", line: "venv True" });
    expect(w.logs).toContainEqual({ stream: "stderr", line: "to stderr" });
    expect(await readFile(join(w.resultsDir, "out.txt"), "utf8")).toBe("IRIS");
    expect(existsSync(join(w.dir, "venv"))).toBe(false);
  });

  test("installs requirements into the venv (a local wheel, no index needed)", async () => {
    const w = await work("import cocos_testpkg\nprint('value', cocos_testpkg.VALUE)\n");
    const whl = wheel("cocos_testpkg", "1.0", "VALUE = 41 + 1\n");
    await writeFile(join(w.dir, whl.file), whl.bytes);
    const requirementsPath = join(w.dir, "requirements.txt");
    await writeFile(requirementsPath, `${join(w.dir, whl.file)}\n`);
    const outcome = await pythonRunner.run(w.spec("python", { requirementsPath }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "exit", code: 0 });
    expect(w.logs).toContainEqual({ stream: "stdout", line: "value 42" });
  }, 120_000);

  test("a requirement that cannot be installed fails the run with pip's reason", async () => {
    const w = await work("print('never')\n");
    const requirementsPath = join(w.dir, "requirements.txt");
    await writeFile(requirementsPath, "/nonexistent/cocos_missing-1.0-py3-none-any.whl\n");
    const outcome = await pythonRunner.run(w.spec("python", { requirementsPath }));
    expect(outcome.kind, show(outcome)).toBe("error");
    expect((outcome as { message: string }).message).toStartWith("error installing requirements: exit status 1");
    expect(w.logs.map((l) => l.line)).not.toContain("never");
  }, 120_000);

  test("a non-zero exit code arrives exactly; the host env does not leak", async () => {
    process.env.COCOS_HOST_SECRET = "host-secret-value";
    try {
      const w = await work("import os, sys\nfor k, v in sorted(os.environ.items()): print(f'{k}={v}')\nsys.exit(7)\n");
      const outcome = await pythonRunner.run(w.spec("python", { env: { GUEST_VAR: "guest" } }));
      expect(outcome).toMatchObject({ kind: "exit", code: 7 });
      const lines = w.logs.map((l) => l.line);
      expect(lines).toContain("GUEST_VAR=guest");
      expect(lines.join("\n")).not.toContain("host-secret-value");
    } finally {
      delete process.env.COCOS_HOST_SECRET;
    }
  });

  test("a timeout kills the script and its children", async () => {
    const mark = marker();
    const w = await work(
      "import subprocess, sys\np = subprocess.Popen(['sleep', sys.argv[1]])\nopen('results/child', 'w').write('started')\nwhile True: pass\n",
    );
    const outcome = await pythonRunner.run(w.spec("python", { args: [mark], limits: { timeoutMs: 1500 } }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "limit", limit: "timeout" });
    expect(await readFile(join(w.resultsDir, "child"), "utf8")).toBe("started");
    expect(processesWith(mark)).toEqual([]);
  });

  test("the script runs sandboxed (venv set up outside): uid 65534, no /etc/shadow, no connection to 127.0.0.1", async () => {
    let accepted = 0;
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => void accepted++, data() {} } });
    try {
      const w = await work(
        [
          "import os, socket, sys",
          "print('uid', os.getuid(), os.getgid())",
          "try:\n    open('/etc/shadow').read(); print('shadow: read')\nexcept OSError as e:\n    print('shadow:', type(e).__name__)",
          "try:\n    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2); print('connect: ok')\nexcept OSError as e:\n    print('connect:', type(e).__name__)",
          "print('data', open('datasets/in.txt').read())",
        ].join("\n"),
        { "in.txt": "iris" },
      );
      const requirementsPath = join(w.dir, "requirements.txt");
      await writeFile(requirementsPath, "");
      const outcome = await pythonRunner.run(w.spec("python", { args: [String(server.port)], requirementsPath }));
      expect(outcome, show(outcome)).toMatchObject({ kind: "exit", code: 0 });
      const lines = w.logs.map((l) => l.line);
      expect(lines).toContain("uid 65534 65534");
      expect(lines).toContain("shadow: FileNotFoundError");
      expect(lines).toContain("connect: ConnectionRefusedError");
      expect(lines).toContain("data iris");
      expect(accepted).toBe(0);
    } finally {
      server.stop(true);
    }
  });

  test("python_runtime must be an interpreter name, not a command", async () => {
    const w = await work("print('never')\n");
    const outcome = await pythonRunner.run(w.spec("python", { pythonRuntime: "/bin/sh" }));
    expect(outcome.kind).toBe("error");
    expect((outcome as { message: string }).message).toContain('got "/bin/sh"');
    expect(w.logs).toEqual([]);
  });
});
