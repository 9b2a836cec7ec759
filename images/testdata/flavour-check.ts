// Stand-in agent for a manual boot check of the full flavour inside the guest: runs one `python`
// algorithm (real python3, venv, bwrap) and one `docker` algorithm (Podman's API on DOCKER_HOST)
// through the real runners and prints what they saw as one "FLAVOUR-CHECK {json}" console line,
// then exits (the VM powers off). Build an image around it with
// `bun images/build.ts --flavour full --agent <compiled>`.
import { dockerRunner } from "../../runtime/runners/docker.ts";
import { buildImageTar } from "../../runtime/runners/image-fixture.ts";
import { pythonRunner } from "../../runtime/runners/python.ts";
import { makeWorkDir } from "../../runtime/runners/testing.ts";

const started = performance.now();
// Podman's service starts in the background (images/flavours/full-init.sh): wait for it, bounded.
let engineDown: string | null = "not asked";
for (let i = 0; i < 120 && engineDown; i++) {
  engineDown = await dockerRunner.unavailable();
  if (engineDown) await Bun.sleep(500);
}
const engineMs = Math.round(performance.now() - started);

const py = await makeWorkDir(
  `import os, sys, pathlib
print("python", sys.version.split()[0], "uid", os.getuid(), "in", sys.prefix)
data = pathlib.Path("datasets/in.txt").read_text()
pathlib.Path("results/out.txt").write_text(data.upper())
`,
  { "in.txt": "guest-dataset" },
);
const pyUnavailable = await pythonRunner.unavailable();
const pyOutcome = await pythonRunner.run(py.spec("python", { limits: { timeoutMs: 120_000 } }));

// venv with pip (ensurepip from Debian's wheels), as the python runner makes one for a requirements file.
const pipCheck = Bun.spawnSync(["/bin/sh", "-c", "python3 -m venv /tmp/pipvenv && /tmp/pipvenv/bin/python -m pip --version"], { stdout: "pipe", stderr: "pipe" });
const pip = `${pipCheck.exitCode} ${pipCheck.stdout.toString().trim()} ${pipCheck.stderr.toString().trim().split("\n").at(-1)}`;

const script = `echo "net: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')"
echo "mem: $(cat /sys/fs/cgroup/memory.max 2>&1)"
echo "uid: $(id -u)"
echo x > /cocos/datasets/new 2>/dev/null && echo "datasets: writable" || echo "datasets: read-only"
tr a-z A-Z < /cocos/datasets/in.txt > /cocos/results/out.txt && echo "results: written"
`;
const dk = await makeWorkDir(buildImageTar({ tag: "cocos-check/flavour:latest", cmd: ["/bin/sh", "/cocos/run.sh"], files: { "cocos/run.sh": script } }), {
  "in.txt": "container-dataset",
});
const dkOutcome = engineDown ? null : await dockerRunner.run(dk.spec("docker", { limits: { timeoutMs: 240_000, memoryBytes: 64 * 1024 * 1024 } }));
const read = async (p: string) => Bun.file(p).text().catch((e: Error) => `(${e.message})`);
const report = {
  engineMs,
  engineDown,
  pip,
  python: { unavailable: pyUnavailable, outcome: pyOutcome, logs: py.logs, result: await read(`${py.resultsDir}/out.txt`) },
  docker: { outcome: dkOutcome, logs: dk.logs, result: await read(`${dk.resultsDir}/out.txt`) },
};
console.log(`FLAVOUR-CHECK ${JSON.stringify(report)}`);
process.exit(0);
