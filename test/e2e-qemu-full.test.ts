// End to end with the full guest flavour (images/flavours/: Python 3 and Podman) in QEMU VMs under
// TCG, through the compiled binaries: computations server + manager (qemu backend; no flavour set:
// the manifests' algo_type makes it boot the full flavour) + cocos-cli as three parties over attested TLS. A `python`
// algorithm runs in the guest's python3 under the native sandbox, a `docker` algorithm (an image
// tarball built offline here) in Podman inside the guest; both results are checked, and so is what
// each sandbox let the algorithm see. The evidence of the VM must carry exactly the measurement
// `cocos-cli policy measurement --image image.json --flavour full` computes.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUSYBOX, buildImageTar } from "../runtime/runners/image-fixture.ts";
import { ROOT, runIrisWorkflow } from "../scripts/iris-workflow.ts";
import { ensureBuilt, haveDpkg, haveQemu } from "./support/guest-image.ts";
import { launchedVm } from "./support/launched-vm.ts";

const imageOut = join(ROOT, "images", "out");
const workDir = mkdtempSync(join(tmpdir(), "cocos-e2ef-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const PYTHON_ALGO = `import os, sys
nums = [int(x) for line in open("datasets/numbers.csv") for x in line.strip().split(",") if x]
open("results/sum.txt", "w").write(str(sum(nums)))
nets = [l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]]
open("results/seen.txt", "w").write(f"python {sys.version_info[0]}.{sys.version_info[1]} uid {os.getuid()} net {','.join(nets)}")
`;

const CONTAINER_SCRIPT = `tr a-z A-Z < /cocos/datasets/words.txt > /cocos/results/upper.txt
{
  echo "net: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')"
  echo "mem: $(cat /sys/fs/cgroup/memory.max)"
  echo "pids: $(cat /sys/fs/cgroup/pids.max)"
  echo "nnp: $(grep NoNewPrivs /proc/self/status | tr -d ' \t' | cut -d: -f2)"
  if echo x > /cocos/datasets/planted 2>/dev/null; then echo "datasets: writable"; else echo "datasets: read-only"; fi
} > /cocos/results/seen.txt
`;

describe.skipIf(!haveQemu || !haveDpkg)("full flavour in QEMU VMs under TCG (needs qemu-system-x86_64, dpkg-deb, apt-get)", () => {
  test(
    "python and docker algorithms inside the VM through dist binaries; the evidence carries the full flavour's measurement from image.json",
    async () => {
      if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} (busybox-static) is needed to build the docker algorithm's image`);
      await ensureBuilt("full");
      const algo = join(workDir, "algo.py");
      writeFileSync(algo, PYTHON_ALGO);
      const numbers = join(workDir, "numbers.csv");
      writeFileSync(numbers, "1,2,3\n4,5,6\n");
      const image = join(workDir, "image.tar");
      writeFileSync(image, buildImageTar({ tag: "cocos-e2e/upper:latest", cmd: ["/bin/sh", "/cocos/run.sh"], files: { "cocos/run.sh": CONTAINER_SCRIPT } }));
      const words = join(workDir, "words.txt");
      writeFileSync(words, "hello from the data provider\n");

      const trace: string[] = [];
      const probes: Record<string, { booted: string; fromImage: string; initrd: string; pinned: string }> = {};
      const r = await runIrisWorkflow({
        workDir,
        backend: "qemu",
        bins: "dist",
        timeoutMs: 180_000,
        computations: [
          { id: "py-sum", algo, algoType: "python", datasets: [{ path: numbers, name: "numbers.csv" }] },
          { id: "docker-upper", algo: image, algoType: "docker", datasets: [{ path: words, name: "words.txt" }] },
        ],
        say: (l) => trace.push(l),
        show: (p, l) => trace.push(`[${p}] ${l}`),
        // Before the uploads: pin the measurement computed from image.json alone into the policy the
        // uploads verify the VM's evidence against (they fail if the evidence carries another one).
        probe: async (id, env, run) => {
          const { boot: x, measurement: booted } = await launchedVm(join(workDir, "manager-state"), id);
          const imageJson = join(imageOut, "image.json");
          const base = (JSON.parse(readFileSync(imageJson, "utf8")) as { flavours: { full: { measurement_inputs: { cmdline: string } } } }).flavours.full.measurement_inputs.cmdline;
          const settings = x.cmdline.startsWith(`${base} `) ? x.cmdline.slice(base.length + 1) : `(cmdline does not start with the image's: ${x.cmdline})`;
          const policy = env.AGENT_GRPC_ATTESTATION_POLICY!;
          // Blank it first: only the value the CLI computes may end up there.
          const doc = JSON.parse(readFileSync(policy, "utf8"));
          doc.policy.measurement = Buffer.alloc(48).toString("base64");
          writeFileSync(policy, JSON.stringify(doc));
          const pinned = await run("algo-provider", ["policy", "measurement", "--image", imageJson, "--flavour", "full", "--append", settings, policy], env);
          const fromImage = Buffer.from(JSON.parse(readFileSync(policy, "utf8")).policy.measurement, "base64").toString("hex");
          probes[id] = { booted, fromImage, initrd: x.initrd, pinned: `${pinned.code} ${pinned.lines.join(" ")}` };
        },
      }).catch((e) => {
        throw new Error(`${(e as Error).message}\n--- trace ---\n${trace.slice(-80).join("\n")}`);
      });
      if (process.env.TEST_DEBUG) console.log(trace.join("\n"));
      const text = (id: string, f: string) => {
        const b = r.results?.[id]?.[f];
        if (!b) throw new Error(`${id}: no ${f} in its results (entries: ${Object.keys(r.results?.[id] ?? {}).join(", ")})`);
        return Buffer.from(b).toString().trim();
      };
      expect(r.programs.mode).toBe("dist");

      // python: the guest's python3, sandboxed (uid 65534, only lo), result computed from the dataset.
      expect(text("py-sum", "sum.txt")).toBe("21");
      expect(text("py-sum", "seen.txt")).toBe("python 3.11 uid 65534 net lo");

      // docker: Podman in the guest ran the image with no network, read-only datasets and a memory cap.
      expect(text("docker-upper", "upper.txt")).toBe("HELLO FROM THE DATA PROVIDER");
      const seen = text("docker-upper", "seen.txt").split("\n").map((l) => l.trim());
      expect(seen).toContain("net: lo");
      expect(seen).toContain("datasets: read-only");
      expect(seen.find((l) => l.startsWith("mem: "))).toMatch(/^mem: \d+$/);
      // The runner's PidsLimit and no-new-privileges, as Podman applied them.
      expect(seen).toContain("pids: 4096");
      expect(seen).toContain("nnp: 1");

      // Both VMs booted the full flavour, and each one's evidence verified against the value computed
      // from image.json (the uploads ran over attested TLS under that policy).
      for (const id of ["py-sum", "docker-upper"]) {
        const p = probes[id]!;
        expect(p.initrd).toBe(join(imageOut, "initramfs-full.cpio"));
        expect(p.pinned).toBe("0 Attestation policy updated: measurement");
        expect(p.fromImage).toMatch(/^[0-9a-f]{96}$/);
        expect(p.fromImage).toBe(p.booted);
      }
      expect(trace.filter((l) => /^\[cli:algo-provider\] Attestation verified \(SIMULATED: no hardware TEE\): sim, measurement/.test(l)).length).toBe(2);
      expect(readdirSync(join(workDir, "manager-state")).filter((f) => f.endsWith(".json"))).toEqual([]);
    },
    600_000,
  );
});
