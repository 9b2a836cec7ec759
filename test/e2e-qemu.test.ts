// End to end with the agent in a QEMU VM under TCG, through the compiled binaries (dist/cocos-*):
// computations server + manager (qemu backend) + cocos-cli as three parties, attested TLS against the
// manager's sim secure processor, Iris training then inference → Iris-versicolor. On the way: the
// policy's measurement is recomputed from the booted files and command line, a policy with another
// measurement is refused, and the manager is SIGKILLed while the training runs and must re-adopt the VM.
// Also host-channel faults at the manager (a guest's malformed frames, a flooding guest), with the
// guest side played over the same Unix sockets QEMU's chardevs expose.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage } from "../images/build.ts";
import { ensureBuilt } from "./support/guest-image.ts";
import { launchedVm } from "./support/launched-vm.ts";
import { ROOT, runIrisWorkflow } from "../scripts/iris-workflow.ts";
import { Listeners, type VmBackend, type VmExit, type VmInfo, type VmOutput, type VmStartSpec } from "../manager/backend.ts";
import { loadManagerConfig } from "../manager/config.ts";
import { createLogger } from "../manager/log.ts";
import { Manager } from "../manager/service.ts";
import { StateStore } from "../manager/state.ts";
import { FramedChannel, encodeFrame, unixListener } from "../protocol/host-channel/index.ts";
import { EventsLogsType, encodeMessage, timestampFromDate } from "../protocol/proto.ts";
import { generateKeyPair, loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { runReqFromManifest } from "../protocol/manifest.ts";
import { toHex } from "../protocol/hash.ts";

const haveQemu = Bun.which("qemu-system-x86_64") !== null;
const haveDpkg = Bun.which("dpkg-deb") !== null && Bun.which("apt-get") !== null;
const imageOut = join(ROOT, "images", "out");

const temps: string[] = [];
const temp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
};
afterAll(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The Iris workflow against the image in `o.image` (its image.json's layout); the attestation checks
 *  every layout must pass: the evidence's measurement is the one recomputed from the booted files and
 *  the one `cocos-cli policy measurement --image image.json --append <settings>` computes. */
async function irisInQemu(o: { image: string; nn: boolean; restart: boolean }): Promise<Record<string, string>> {
  const kernelEnv = process.env.MANAGER_QEMU_DISK_IMG_KERNEL_FILE;
  process.env.MANAGER_QEMU_DISK_IMG_KERNEL_FILE = join(o.image, "vmlinux"); // scripts/iris-workflow.ts qemuEnv
  try {
    const workDir = temp("cocos-e2eq-");
    const trace: string[] = [];
    const probes: Record<string, string> = {};
    const r = await runIrisWorkflow({
      workDir,
      backend: "qemu",
      bins: "dist",
      timeoutMs: 180_000,
      restartManagerAfterUpload: o.restart ? "iris-train" : undefined,
      // A third VM: iris-nn.wasm runs the trained model.onnx through wasi-nn in the agent's ONNX Runtime.
      nn: o.nn,
      say: (l) => trace.push(l),
      show: (p, l) => trace.push(`[${p}] ${l}`),
      probe: async (id, env, run) => {
        if (id !== "iris-train") return;
        // The VM the manager launched, as recorded in its state dir.
        const { info, boot: x, measurement } = await launchedVm(join(workDir, "manager-state"), id);
        const policy = JSON.parse(readFileSync(env.AGENT_GRPC_ATTESTATION_POLICY!, "utf8"));
        probes.measurement = `${Buffer.from(policy.policy.measurement, "base64").toString("hex")} ${measurement}`;
        probes.hostData = `${Buffer.from(policy.policy.host_data, "base64").toString("hex")} ${info.manifestHash}`;
        probes.cmdline = x.cmdline;
        probes.initrd = x.initrd;
        probes.disk = x.disk ?? "";
        // What a user pins: the measurement computed from image.json alone (plus the settings the
        // manager appends), written into the policy the uploads below verify the evidence against.
        const image = JSON.parse(readFileSync(join(o.image, "image.json"), "utf8")) as { cmdline: string };
        const settings = x.cmdline.startsWith(`${image.cmdline} `) ? x.cmdline.slice(image.cmdline.length + 1) : `(cmdline does not start with the image's: ${x.cmdline})`;
        const pinned = await run("algo-provider", ["policy", "measurement", "--image", join(o.image, "image.json"), "--append", settings, env.AGENT_GRPC_ATTESTATION_POLICY!], env);
        probes.pinned = `${pinned.code} ${pinned.lines.join(" ")}`;
        probes.fromImage = Buffer.from(JSON.parse(readFileSync(env.AGENT_GRPC_ATTESTATION_POLICY!, "utf8")).policy.measurement, "base64").toString("hex");
        // Same manifest, another image: the CLI refuses before sending anything.
        policy.policy.measurement = Buffer.alloc(48, 1).toString("base64");
        const other = join(workDir, "other-image.policy.json");
        writeFileSync(other, JSON.stringify(policy));
        const wasm = join(ROOT, "examples", "dist", "iris-train.wasm");
        const refused = await run("algo-provider", ["algo", wasm, "private.pem", "-a", "wasm"], { ...env, AGENT_GRPC_ATTESTATION_POLICY: other });
        probes.refused = `${refused.code}\n${refused.lines.join("\n")}`;
      },
    }).catch((e) => {
      throw new Error(`${(e as Error).message}\n--- trace ---\n${trace.slice(-80).join("\n")}`);
    });
    if (process.env.TEST_DEBUG) console.log(trace.join("\n"));
    expect(r.prediction).toBe("Iris-versicolor");
    expect(r.programs.mode).toBe("dist");
    // ONNX Runtime loaded inside the guest (images/onnxruntime.ts) and gave the same answer.
    if (o.nn) expect(r.nnPrediction).toBe("Iris-versicolor");

    // Attestation: measurement = f(booted kernel, initramfs, full command line); host_data = manifest hash.
    const [fromPolicy, fromFiles] = probes.measurement!.split(" ");
    expect(fromPolicy).toMatch(/^[0-9a-f]{96}$/);
    expect(fromPolicy).toBe(fromFiles!);
    // cocos-cli computed the same value from image.json, and the uploads verified evidence against it.
    expect(probes.pinned).toBe("0 Attestation policy updated: measurement");
    expect(probes.fromImage).toBe(fromFiles!);
    const [hostData, manifestHash] = probes.hostData!.split(" ");
    expect(hostData).toBe(manifestHash!);
    const booted = (JSON.parse(readFileSync(join(o.image, "image.json"), "utf8")) as { measurement_inputs: { initrd: string; disk?: string } }).measurement_inputs;
    expect(probes.initrd).toBe(join(o.image, booted.initrd));
    expect(probes.disk).toBe(booted.disk === undefined ? "" : join(o.image, String(booted.disk)));
    expect(probes.cmdline).toContain("cocos.attestation=host");
    expect(probes.cmdline).toContain("cocos.computation_id=iris-train");
    expect(trace.some((l) => /^ +Attestation verified \(SIMULATED: no hardware TEE\): sim, measurement/.test(l))).toBe(true);
    expect(probes.refused).toStartWith("1\n");
    expect(probes.refused).toContain("did not prove it runs what the policy expects; nothing was sent");
    expect(probes.refused).toContain("measurement");

    // The restarted manager re-adopted the training VM; the run finished and its results downloaded.
    if (o.restart) expect(trace.some((l) => /the new manager re-adopted the VM: .*"re-adopted VM".*"computation_id":"iris-train"/.test(l))).toBe(true);
    expect(trace.some((l) => /trained model: model\.json, \d+ bytes/.test(l))).toBe(true);
    const events = r.serverLines.filter((l) => / event /.test(l));
    expect(events.some((l) => l.includes("VmProvision/Completed") && l.includes("computation=iris-infer"))).toBe(true);
    expect(events.some((l) => l.includes("ConsumingResults/Ready") && l.includes("computation=iris-infer"))).toBe(true);
    // Every VM is gone (stopped through the manager's API), nothing left in its state dir.
    const left = readdirSync(join(workDir, "manager-state")).filter((f) => f.endsWith(".json"));
    expect(left).toEqual([]);
    return probes;
  } finally {
    if (kernelEnv === undefined) delete process.env.MANAGER_QEMU_DISK_IMG_KERNEL_FILE;
    else process.env.MANAGER_QEMU_DISK_IMG_KERNEL_FILE = kernelEnv;
  }
}

describe.skipIf(!haveQemu || !haveDpkg)("Iris workflow in a QEMU VM under TCG (needs qemu-system-x86_64, dpkg-deb, apt-get)", () => {
  test(
    "train + inference (and wasi-nn inference through the guest's ONNX Runtime) in VMs through dist binaries; measurement from the booted files; manager killed mid-run re-adopts the VM",
    async () => {
      await ensureBuilt();
      await irisInQemu({ image: imageOut, nn: true, restart: true });
    },
    600_000,
  );

  test(
    "agent-disk layout (--layout disk): the agent on the dm-verity disk, and the evidence carries exactly the measurement cocos-cli computes from image.json",
    async () => {
      await ensureBuilt();
      const image = temp("cocos-imgd-");
      const { agent_disk: d } = await buildImage({ out: image, compress: false, layout: "disk", log: () => {} });
      const probes = await irisInQemu({ image, nn: false, restart: false });
      expect([probes.initrd, probes.disk]).toEqual([join(image, d.initramfs.file), join(image, d.disk.file)]);
      // The root hash travelled on the measured command line, so the measurement checked above pins the disk.
      expect(probes.cmdline).toContain(`cocos_init.verity=${d.verity.data_blocks},${d.verity.hash_start_block},${d.verity.hash},${d.verity.root_hash},${d.verity.salt}`);
    },
    600_000,
  );
});

describe.skipIf(!haveDpkg)("guest image with the compiled agent (needs dpkg-deb, apt-get)", () => {
  test("rebuilding images/out from the same dist/cocos-agent gives the same bytes (what the measurement pins)", async () => {
    await ensureBuilt();
    const before = JSON.parse(readFileSync(join(imageOut, "image.json"), "utf8"));
    const again = await buildImage({ out: temp("cocos-img2-"), compress: false, log: () => {} });
    expect(again.agent.sha256).toBe(before.agent.sha256);
    expect(again.initramfs.cpio.sha256).toBe(before.initramfs.cpio.sha256);
    expect(again.kernel.vmlinux.sha256).toBe(before.kernel.vmlinux.sha256);
    expect(again.measurement_inputs).toEqual(before.measurement_inputs);
  }, 240_000);
});

/** A backend whose "VM" is two Unix sockets the test serves, as QEMU's chardevs (server=on) do. */
class SocketGuestBackend implements VmBackend {
  readonly name = "socket-guest";
  private vms: VmInfo[] = [];
  private exits = new Listeners<VmExit>();
  private outputs = new Listeners<VmOutput>();
  constructor(private readonly dir: string) {}
  async start(spec: VmStartSpec): Promise<VmInfo> {
    const info: VmInfo = {
      id: `sg-${spec.computationId}`,
      backend: this.name,
      computationId: spec.computationId,
      agentPort: 1,
      pid: process.pid,
      channelPaths: { manifest: join(this.dir, "m.sock"), events: join(this.dir, "e.sock") },
      workDir: this.dir,
      manifestHash: toHex(spec.manifestHash),
      startedAt: new Date().toISOString(),
    };
    this.vms.push(info);
    return info;
  }
  async stop(id: string): Promise<void> {
    const vm = this.vms.find((v) => v.id === id);
    this.vms = this.vms.filter((v) => v.id !== id);
    if (vm) this.exits.emit({ info: vm, code: 0, signal: null, requested: true });
  }
  async adopt(): Promise<boolean> {
    return false;
  }
  list(): VmInfo[] {
    return this.vms;
  }
  onExit(l: (e: VmExit) => void): void {
    this.exits.add(l);
  }
  onOutput(l: (o: VmOutput) => void): void {
    this.outputs.add(l);
  }
  detachAll(): void {
    this.vms = [];
  }
}

describe("host-channel faults at the manager (guest side over QEMU-style chardev sockets)", () => {
  test("malformed frames are dropped with a log line, the channel keeps working; a flooding guest does not take the manager down", async () => {
    const dir = temp("cocos-hcf-");
    const logs: string[] = [];
    const log = createLogger("debug", { service: "manager" }, (l) => logs.push(l));
    const out: Record<string, any>[] = [];
    const cfg = loadManagerConfig({ MANAGER_STATE_DIR: dir, MANAGER_LINK_WATCH: "100ms" });
    const m = new Manager(cfg, new SocketGuestBackend(dir), new StateStore(dir), { send: (x) => out.push(x) }, log);
    // Guest side: the manifest port acks like the agent; the events port is raw bytes under test control.
    const manifestPort = new FramedChannel("guest", unixListener(join(dir, "m.sock")));
    let events: net.Socket | undefined;
    const server = net.createServer((s) => (events = s));
    await new Promise<void>((r) => server.listen(join(dir, "e.sock"), r));
    try {
      const key = publicKeyDer(loadPublicKey(generateKeyPair("ed25519").publicPem));
      const run = await m.run(
        runReqFromManifest({
          id: "c-fault",
          name: "n",
          description: "d",
          datasets: [{ hash: new Uint8Array(32).fill(1), user_key: key, filename: "d.csv" }],
          algorithm: { hash: new Uint8Array(32).fill(2), user_key: key },
          result_consumers: [{ user_key: key }],
          agent_config: { port: "7002", log_level: "debug" },
        }),
      );
      expect(run.ok).toBe(true);
      for (let i = 0; i < 100 && !events; i++) await Bun.sleep(50);
      expect(events).toBeDefined();
      const sock = events!;
      const relayed = (msg: string) => out.filter((x) => x.agent_log?.message === msg).length;
      const until = async (f: () => boolean, what: string) => {
        for (let i = 0; i < 200 && !f(); i++) await Bun.sleep(50);
        if (!f()) throw new Error(`expected ${what}; manager logs:\n${logs.slice(-10).join("")}`);
      };
      let id = 2;
      const logFrame = (message: string) =>
        encodeFrame(id++, encodeMessage(EventsLogsType, { agent_log: { message, computation_id: "", level: "INFO", timestamp: timestampFromDate() } }));

      // A well-formed frame whose payload is not an EventsLogs protobuf, then a valid one.
      sock.write(encodeFrame(id++, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])));
      sock.write(logFrame("after the malformed frame"));
      await until(() => relayed("after the malformed frame") === 1, "the valid frame after a malformed one to be relayed");
      expect(logs.filter((l) => l.includes("dropped a guest message that is not an EventsLogs protobuf")).length).toBe(1);

      // Flood: 20 000 log frames in one burst, then one more; all relayed in order, the manager still serves.
      const burst: Uint8Array[] = [];
      for (let i = 0; i < 20_000; i++) burst.push(logFrame(`flood ${i}`));
      sock.write(Buffer.concat(burst));
      sock.write(logFrame("after the flood"));
      await until(() => relayed("after the flood") === 1, "the frame after a 20 000-frame flood to be relayed");
      expect(out.filter((x) => /^flood \d+$/.test(x.agent_log?.message ?? "")).length).toBe(20_000);
      expect(m.list().map((v) => v.id)).toEqual(["sg-c-fault"]);
      expect(await m.stop("c-fault")).toBe("");
    } finally {
      events?.destroy();
      server.close();
      await manifestPort.close();
      await m.detach();
    }
  }, 60_000);
});
