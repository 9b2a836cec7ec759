// Runs against a real Docker engine (scripts/test-all.sh starts one when docker.io is installed);
// skipped with the reason when no engine answers or busybox-static is missing.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AlgorithmError } from "../types.ts";
import { DockerEngine } from "./docker-engine.ts";
import { RUN_LABEL, checkImageTar, containerCmd, dockerRunner } from "./docker.ts";
import { BUSYBOX, buildImageTar } from "./image-fixture.ts";
import { writeTar } from "./tar.ts";
import { makeWorkDir, show, type WorkDir } from "./testing.ts";

const reason = existsSync(BUSYBOX) ? await dockerRunner.unavailable() : `${BUSYBOX} (busybox-static) missing`;
if (reason) console.warn(`docker runner tests skipped: ${reason}`);

const dirs: WorkDir[] = [];
afterEach(async () => {
  for (const w of dirs.splice(0)) await w.remove();
});

let images = 0;
/** A work directory whose algorithm is an image running `sh /cocos/run.sh <args>`. */
async function imageWork(script: string, datasets?: Record<string, string>) {
  const tag = `cocos-test/runner-${process.pid}-${++images}:latest`;
  const w = await makeWorkDir(buildImageTar({ tag, cmd: ["/bin/sh", "/cocos/run.sh"], files: { "cocos/run.sh": script } }), datasets);
  dirs.push(w);
  return { w, tag };
}

async function leftovers(tag: string): Promise<{ containers: number; imageStatus: number }> {
  const engine = new DockerEngine();
  const filters = JSON.stringify({ label: [RUN_LABEL] });
  const containers = await engine.json<unknown[]>("/containers/json", { query: { all: "1", filters } });
  const image = await fetch(`http://docker/images/${encodeURIComponent(tag)}/json`, { unix: engine.socket });
  await image.arrayBuffer();
  return { containers: containers.length, imageStatus: image.status };
}

describe("docker image checks (no engine needed)", () => {
  test("containerCmd: no args keeps the image CMD; args are appended to it", () => {
    const image = { Id: "x", Config: { Cmd: ["python3", "/cocos/algo.py"], Entrypoint: null } };
    expect(containerCmd(image, [])).toBeUndefined();
    expect(containerCmd(image, ["--n", "3"])).toEqual(["python3", "/cocos/algo.py", "--n", "3"]);
  });

  test("a malformed tar, a tar without manifest.json and a two-image manifest get clear errors", async () => {
    const w = await makeWorkDir("this is not a tar archive at all".repeat(40));
    dirs.push(w);
    await expect(checkImageTar(w.algorithmPath)).rejects.toThrow(
      new AlgorithmError("docker image: expected a tar archive, got a file whose first header has a bad checksum"),
    );
    await writeFile(w.algorithmPath, writeTar([{ name: "hello.txt", type: "file", data: "hi" }]));
    await expect(checkImageTar(w.algorithmPath)).rejects.toThrow(
      'docker image: expected a "docker save" tarball with manifest.json, got a tar of 1 entries without one',
    );
    const two = JSON.stringify([{ Config: "a.json", Layers: [] }, { Config: "b.json", Layers: [] }]);
    await writeFile(w.algorithmPath, writeTar([{ name: "manifest.json", type: "file", data: two }]));
    await expect(checkImageTar(w.algorithmPath)).rejects.toThrow("expected manifest.json to describe exactly one image, got 2 images");
    // The runner reports the same as a failed run instead of throwing.
    const outcome = await dockerRunner.run(w.spec("docker"));
    expect(outcome).toMatchObject({ kind: "error", message: expect.stringContaining("exactly one image") });
  });
});

describe.skipIf(reason !== null)("docker runner", () => {
  test("runs the image with args, mounts datasets and results, logs both streams, cleans up", async () => {
    const { w, tag } = await imageWork(
      'echo "args:$1|$2"\necho warn >&2\ntr a-z A-Z < /cocos/datasets/in.txt > /cocos/results/out.txt\n',
      { "in.txt": "iris" },
    );
    const outcome = await dockerRunner.run(w.spec("docker", { args: ["a b", "c"] }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "exit", code: 0 });
    expect(w.logs).toContainEqual({ stream: "stdout", line: "args:a b|c" });
    expect(w.logs).toContainEqual({ stream: "stderr", line: "warn" });
    expect(await readFile(join(w.resultsDir, "out.txt"), "utf8")).toBe("IRIS");
    expect(await leftovers(tag)).toEqual({ containers: 0, imageStatus: 404 });
  });

  test("an image that exits 3 gives exit 3", async () => {
    const { w } = await imageWork("exit 3\n");
    expect(await dockerRunner.run(w.spec("docker"))).toMatchObject({ kind: "exit", code: 3 });
  });

  test("no network, datasets read-only, only spec.env from the host side", async () => {
    process.env.COCOS_HOST_SECRET = "host-secret-value";
    try {
      const { w } = await imageWork(
        "ls /sys/class/net\nif echo x > /cocos/datasets/new 2>/dev/null; then echo datasets-writable; fi\nenv\n",
        { "in.txt": "x" },
      );
      const outcome = await dockerRunner.run(w.spec("docker", { env: { GUEST_VAR: "guest" } }));
      expect(outcome, show(outcome)).toMatchObject({ kind: "exit", code: 0 });
      const lines = w.logs.map((l) => l.line);
      expect(lines.filter((l) => /^(lo|eth\d+)$/.test(l))).toEqual(["lo"]);
      expect(lines).not.toContain("datasets-writable");
      expect(existsSync(join(w.datasetsDir, "new"))).toBe(false);
      expect(lines).toContain("GUEST_VAR=guest");
      expect(lines.join("\n")).not.toContain("host-secret-value");
    } finally {
      delete process.env.COCOS_HOST_SECRET;
    }
  });

  test("a timeout kills a sleeping container, which is removed", async () => {
    const { w, tag } = await imageWork("sleep 300\n");
    const outcome = await dockerRunner.run(w.spec("docker", { limits: { timeoutMs: 1000 } }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "limit", limit: "timeout" });
    expect(await leftovers(tag)).toEqual({ containers: 0, imageStatus: 404 });
  });

  test("a stdio flood hits the cap", async () => {
    const { w } = await imageWork("yes flood\n");
    const outcome = await dockerRunner.run(w.spec("docker", { limits: { maxStdioBytes: 256 * 1024, timeoutMs: 30_000 } }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "limit", limit: "stdio-size" });
  });

  test("a results flood hits the cap", async () => {
    const { w } = await imageWork("i=0\nwhile :; do head -c 65536 /dev/zero > /cocos/results/f$i; i=$((i+1)); done\n");
    const outcome = await dockerRunner.run(w.spec("docker", { limits: { maxResultsBytes: 1024 * 1024, timeoutMs: 30_000 } }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "limit", limit: "results-size" });
  });

  test("the memory cap: a container that grows past it is OOM-killed and reported as the memory limit", async () => {
    const { w } = await imageWork('x=$(head -c 200000000 /dev/zero | tr "\\0" a)\necho ${#x}\n');
    const outcome = await dockerRunner.run(w.spec("docker", { limits: { memoryBytes: 32 * 1024 * 1024 } }));
    expect(outcome, show(outcome)).toMatchObject({ kind: "limit", limit: "memory" });
    expect(w.logs.map((l) => l.line)).not.toContain("200000000");
  });

  test("abort stops the container", async () => {
    const { w } = await imageWork("sleep 300\n");
    const controller = new AbortController();
    setTimeout(() => controller.abort("computation stopped"), 1500);
    const outcome = await dockerRunner.run(w.spec("docker", { signal: controller.signal }));
    expect(outcome).toMatchObject({ kind: "aborted", message: "aborted: computation stopped" });
  });

  test("an image tar the engine rejects (missing layer) gives the engine's reason", async () => {
    const w = await makeWorkDir(
      writeTar([
        { name: "manifest.json", type: "file", data: JSON.stringify([{ Config: "c.json", RepoTags: ["x:y"], Layers: ["l/layer.tar"] }]) },
      ]),
    );
    dirs.push(w);
    const outcome = await dockerRunner.run(w.spec("docker"));
    expect(outcome.kind, show(outcome)).toBe("error");
    expect((outcome as { message: string }).message).toStartWith("docker image load failed: ");
  });
});
