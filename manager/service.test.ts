import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair, loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { runReqFromManifest, manifestHash, parseManifest, type Manifest } from "../protocol/manifest.ts";
import { ComputationRunReqType, decodeMessage, encodeMessage } from "../protocol/proto.ts";
import { toHex } from "../protocol/hash.ts";
import { pidAlive } from "./backend.ts";
import { ProcessBackend } from "./backends/process.ts";
import { loadManagerConfig } from "./config.ts";
import { silentLogger } from "./log.ts";
import { Manager } from "./service.ts";
import { StateStore } from "./state.ts";

const FAKE = [process.execPath, join(import.meta.dir, "testdata", "fake-agent.ts")];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const key = publicKeyDer(loadPublicKey(generateKeyPair("ed25519").publicPem));
function manifest(id: string, over: Partial<Manifest> = {}): Manifest {
  return {
    id,
    name: "n",
    description: "d",
    datasets: [{ hash: new Uint8Array(32).fill(1), user_key: key, filename: "Iris.csv" }],
    algorithm: { hash: new Uint8Array(32).fill(2), user_key: key },
    result_consumers: [{ user_key: key }],
    agent_config: { port: "7002", log_level: "debug" },
    ...over,
  };
}

type Msg = Record<string, any>;
function setup(stateDir?: string, agentEnv: string[] = [], env: Record<string, string> = {}) {
  const dir = stateDir ?? mkdtempSync(join(tmpdir(), "cocos-mgr-"));
  if (!stateDir) cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = loadManagerConfig({ MANAGER_STATE_DIR: dir, MANAGER_STOP_GRACE: "5s", MANAGER_LINK_WATCH: "100ms", ...env });
  const argv = agentEnv.length ? ["env", ...agentEnv, ...FAKE] : FAKE;
  const backend = new ProcessBackend({ vmsDir: join(dir, "vms"), agentArgv: argv, pollMs: 50 });
  const out: Msg[] = [];
  const m = new Manager(cfg, backend, new StateStore(dir), { send: (x) => out.push(x) }, silentLogger);
  cleanups.push(async () => {
    for (const v of m.list()) await m.stop(v.computationId, true);
    await m.detach();
  });
  return { dir, m, out, backend };
}

async function until<T>(f: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(20);
  }
}

const events = (out: Msg[]) => out.filter((x) => x.agent_event).map((x) => `${x.agent_event.event_type}/${x.agent_event.status}`);
const runRes = (out: Msg[]) => out.filter((x) => x.run_res).map((x) => x.run_res);

function sendChunks(m: Manager, req: object, size = 7) {
  const bytes = encodeMessage(ComputationRunReqType, req as Record<string, unknown>);
  const id = (req as { id: string }).id;
  for (let i = 0; i < bytes.length; i += size) m.handle({ runReqChunks: { data: bytes.subarray(i, i + size), id, is_last: false } });
  m.handle({ runReqChunks: { data: new Uint8Array(0), id, is_last: true } });
}

describe("manager service", () => {
  test("chunked run request → VM, manifest delivered, RunResponse with the agent port, agent events relayed", async () => {
    const { m, out, dir } = setup();
    const mf = manifest("c1");
    sendChunks(m, runReqFromManifest(mf));
    const [res] = await until(() => (runRes(out).length ? runRes(out) : undefined));
    expect(res.computation_id).toBe("c1");
    const vm = m.find("c1")!;
    expect(res.agent_port).toBe(String(vm.agentPort));
    expect(vm.manifestHash).toBe(toHex(manifestHash(mf)));
    expect(events(out).slice(0, 3)).toEqual(["VmProvision/Starting", "VmProvision/InProgress", "VmProvision/Completed"]);
    expect(out.find((x) => x.agent_event?.event_type === "VmProvision")!.agent_event.originator).toBe("manager");
    // Relayed from the agent, computation id filled in for the log that had none.
    const relayed = await until(() => out.find((x) => x.agent_event?.originator === "agent"));
    expect(relayed.agent_event.event_type).toBe("ReceivingAlgorithm");
    const log = await until(() => out.find((x) => x.agent_log?.message === "fake agent got the manifest"));
    expect(log.agent_log.computation_id).toBe("c1");
    expect(readdirSync(dir).filter((f) => f.endsWith(".json"))).toEqual([`${vm.id}.json`]);
  });

  test("a non-chunked run request (Cocos v0.10) boots too; the agent's manifest carries algo_type, algo_args, kbs, source", async () => {
    const { m, out, backend } = setup();
    const algoTypes: (string | undefined)[] = [];
    const start = backend.start.bind(backend);
    backend.start = (spec) => (algoTypes.push(spec.algoType), start(spec));
    const mf = manifest("c10", {
      datasets: [{ hash: new Uint8Array(32).fill(1), user_key: key, filename: "Iris.csv", source: { url: "https://data.example/iris.enc", kbs_resource_path: "default/key/iris", encrypted: true }, kbs: { url: "http://127.0.0.1:1", enabled: true } }],
      algorithm: { hash: new Uint8Array(32).fill(2), user_key: key, algo_type: "wasm", algo_args: ["--n", "a, b"], kbs: { url: "http://127.0.0.1:2", enabled: true }, source: { url: "https://algo.example/a.wasm" } },
    });
    // The message as proto-loader hands it over: encoded and decoded, defaults filled in.
    m.handle({ runReq: decodeMessage(ComputationRunReqType, encodeMessage(ComputationRunReqType, runReqFromManifest(mf) as Record<string, unknown>)) });
    const [res] = await until(() => (runRes(out).length ? runRes(out) : undefined));
    expect(res.computation_id).toBe("c10");
    expect(res.error).toBeUndefined();
    expect(Number(res.agent_port)).toBeGreaterThan(0);
    const vm = m.find("c10")!;
    const file = join(vm.workDir, "agent", "received-manifest.json");
    await until(() => existsSync(file));
    const got = parseManifest(readFileSync(file, "utf8"));
    expect(got.algorithm).toMatchObject({ algo_type: "wasm", algo_args: ["--n", "a, b"], kbs: { url: "http://127.0.0.1:2", enabled: true }, source: { url: "https://algo.example/a.wasm" } });
    expect(got.datasets[0]).toMatchObject({ kbs: { url: "http://127.0.0.1:1", enabled: true }, source: { kbs_resource_path: "default/key/iris", encrypted: true } });
    expect(vm.manifestHash).toBe(toHex(manifestHash(mf)));
    // The backend learns the algorithm type before boot (the qemu backend picks the image flavour by it).
    expect(algoTypes).toEqual(["wasm"]);
  });

  test("a guest cannot speak for another computation or as the manager; its text is escaped and bounded", async () => {
    const { m, out } = setup(undefined, ["FAKE_AGENT_IMPERSONATE=victim"]);
    sendChunks(m, runReqFromManifest(manifest("attacker")));
    await until(() => runRes(out).length);
    const forged = await until(() => (out.filter((x) => x.agent_event?.originator === "agent").length >= 3 ? out : undefined));
    const fromGuest = forged.filter((x) => x.agent_event?.originator === "agent").map((x) => x.agent_event);
    // Everything relayed is about the attacker's own computation; only the manager's own events say "manager".
    expect(out.filter((x) => x.agent_event || x.agent_log).every((x) => (x.agent_event ?? x.agent_log).computation_id === "attacker")).toBe(true);
    const completed = out.filter((x) => x.agent_event?.event_type === "VmProvision" && x.agent_event.status === "Completed");
    expect([...new Set(completed.map((x) => x.agent_event.originator))].sort()).toEqual(["agent", "manager"]);
    expect(completed.filter((x) => x.agent_event.originator === "manager")).toHaveLength(1);
    const claimed = completed.find((x) => x.agent_event.originator === "agent")!.agent_event;
    expect(Buffer.from(claimed.details).toString()).toBe("\\x1b[2J\\x1b]0;owned\\x07fake\\x0aline");
    const odd = fromGuest.find((e) => e.event_type.startsWith("invalid("))!;
    expect(odd.event_type).toBe("invalid(Run\\x1b[31mning)");
    expect(odd.status.length).toBeLessThan(200);
    const log = await until(() => out.find((x) => x.agent_log?.message.includes("forged"))?.agent_log);
    expect(log.computation_id).toBe("attacker");
    expect(log.message).toStartWith("\\x1b[1A\\x1b[2Kforged\\x0d\\x0a2026 INFO ok");
    expect(log.message.length).toBeLessThan(4200);
    expect(log.level).toBe("invalid(INFO\\x1b)");
    // No control character reaches the control plane in any relayed text.
    const texts = out.flatMap((x) => (x.agent_log ? [x.agent_log.message, x.agent_log.level] : x.agent_event ? [x.agent_event.event_type, x.agent_event.status, Buffer.from(x.agent_event.details).toString()] : []));
    expect(texts.filter((t) => /[\x00-\x1f\x7f-\x9f]/.test(t))).toEqual([]);
  });

  test("a guest flooding the sim secure processor gets at most burst + rate × elapsed reports, and one warning", async () => {
    const { m, out } = setup(undefined, ["FAKE_AGENT_REPORT_FLOOD=300"]);
    const t0 = performance.now();
    sendChunks(m, runReqFromManifest(manifest("flood")));
    await until(() => runRes(out).length);
    const file = join(m.find("flood")!.workDir, "agent", "report-flood.json");
    const counts = await until(() => existsSync(file) && JSON.parse(readFileSync(file, "utf8")), 20_000);
    const elapsed = (performance.now() - t0) / 1000;
    expect(counts.reports + counts.refused).toBe(300);
    expect(counts.reports).toBeGreaterThanOrEqual(1);
    expect(counts.reports).toBeLessThanOrEqual(Math.ceil(20 + 10 * elapsed));
    expect(counts.errors[0]).toContain("too many report requests");
    const warnings = out.filter((x) => x.agent_event?.status === "Warning" && x.agent_event.originator === "manager");
    expect(warnings).toHaveLength(1);
    expect(Buffer.from(warnings[0].agent_event.details).toString()).toContain("at most 10/s, bursts of 20");
  });

  test("a manifest too large for one host-channel frame is refused before any VM starts", async () => {
    const { m, out, backend } = setup();
    const datasets = Array.from({ length: 7000 }, (_, i) => ({ hash: new Uint8Array(32).fill(i & 0xff), user_key: key, filename: `d${i}.csv` }));
    const started: string[] = [];
    const start = backend.start.bind(backend);
    backend.start = (spec) => (started.push(spec.computationId), start(spec));
    sendChunks(m, runReqFromManifest(manifest("huge", { datasets })), 1 << 20);
    const [res] = await until(() => (runRes(out).length ? runRes(out) : undefined));
    expect(res).toMatchObject({ computation_id: "huge", agent_port: "" });
    expect(res.error).toMatch(/manifest refused, nothing started: it is \d+ bytes on the host channel, more than the 1048576-byte frame/);
    expect(started).toEqual([]);
    expect(events(out)).not.toContain("VmProvision/InProgress");
  });

  test("a refused run stream starts nothing, its tail included; the control plane is told once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cocos-mgr-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cfg = loadManagerConfig({ MANAGER_STATE_DIR: dir, MANAGER_RUN_REQ_MAX_BYTES: "64" });
    const backend = new ProcessBackend({ vmsDir: join(dir, "vms"), agentArgv: FAKE });
    const out: Msg[] = [];
    const m = new Manager(cfg, backend, new StateStore(dir), { send: (x) => out.push(x) }, silentLogger);
    cleanups.push(() => m.detach());
    // Past the cap the tail of the stream would decode as a request of its own; it must not.
    const req = runReqFromManifest(manifest("big"));
    sendChunks(m, req, 40);
    await Bun.sleep(100);
    expect(runRes(out)).toHaveLength(1);
    expect(runRes(out)[0]).toMatchObject({ computation_id: "big", agent_port: "" });
    expect(runRes(out)[0].error).toContain("expected at most 64 bytes");
    expect(backend.list()).toEqual([]);
    expect(m.assembler.pendingIds()).toEqual([]);
    expect(m.assembler.heldBytes()).toBe(0);
  });

  test("a request whose chunks name another computation than its body is refused", async () => {
    const { m, out, backend } = setup();
    const bytes = encodeMessage(ComputationRunReqType, runReqFromManifest(manifest("body-id")) as Record<string, unknown>);
    m.handle({ runReqChunks: { data: bytes, id: "chunk-id", is_last: true } });
    const [res] = await until(() => (runRes(out).length ? runRes(out) : undefined));
    expect(res).toMatchObject({ computation_id: "chunk-id", agent_port: "" });
    expect(res.error).toContain('sent as computation chunk-id but it is for "body-id"');
    expect(backend.list()).toEqual([]);
  });

  test("the same request again (server reconnect) answers with the same port and boots nothing", async () => {
    const { m, out, backend } = setup();
    const req = runReqFromManifest(manifest("c2"));
    sendChunks(m, req);
    await until(() => runRes(out).length === 1);
    sendChunks(m, req);
    await until(() => runRes(out).length === 2);
    expect(runRes(out)[1].agent_port).toBe(runRes(out)[0].agent_port);
    expect(backend.list()).toHaveLength(1);
    // A different manifest under the same id is refused.
    sendChunks(m, runReqFromManifest(manifest("c2", { name: "other" })));
    await until(() => runRes(out).length === 3);
    expect(runRes(out)[2].agent_port).toBe("");
    expect(events(out)).toContain("VmProvision/Failed");
  });

  for (const [name, bad, why] of [
    ["a public key that is not a key", { algorithm: { hash: new Uint8Array(32), user_key: new Uint8Array([1, 2, 3]) } }, /algorithm.user_key/],
    ["a hash of the wrong length", { datasets: [{ hash: new Uint8Array(31), user_key: key, filename: "x" }] }, /datasets\[0\].hash: expected 32 bytes/],
    ["a log level that is not one", { agent_config: { port: "7002", log_level: "info cocos.attestation=none" } }, /agent_config.log level: expected debug, info, warn or error/],
  ] as const) {
    test(`${name} → RunResponse without a port, VmProvision/Failed with the reason, nothing started`, async () => {
      const { m, out, backend } = setup();
      // runReqFromManifest does not validate, so it carries the bad field onto the wire.
      sendChunks(m, runReqFromManifest({ ...manifest("bad"), ...(bad as object) } as Manifest));
      const [res] = await until(() => (runRes(out).length ? runRes(out) : undefined));
      expect(res).toMatchObject({ computation_id: "bad", agent_port: "" });
      expect(res.error).toMatch(why);
      const failed = out.find((x) => x.agent_event?.status === "Failed")!;
      expect(Buffer.from(failed.agent_event.details).toString()).toMatch(why);
      expect(backend.list()).toEqual([]);
      expect(m.list()).toEqual([]);
    });
  }

  test("an agent that dies before taking the manifest fails the run promptly, with the reason", async () => {
    const { m, out, backend } = setup(undefined, ["FAKE_AGENT_NO_MANIFEST=1", "FAKE_AGENT_EXIT_AFTER_MS=200"]);
    sendChunks(m, runReqFromManifest(manifest("dies")));
    const [res] = await until(() => (runRes(out).length ? runRes(out) : undefined));
    expect(res.agent_port).toBe("");
    const failed = out.find((x) => x.agent_event?.status === "Failed")!;
    expect(Buffer.from(failed.agent_event.details).toString()).toContain("the agent did not take the manifest: the VM exited (code 3");
    expect(backend.list()).toEqual([]);
    expect(m.list()).toEqual([]);
  });

  test("a running guest whose events channel drops is reported Disconnected, once", async () => {
    const { m, out } = setup(undefined, ["FAKE_AGENT_DROP_EVENTS_AFTER_MS=700"]);
    sendChunks(m, runReqFromManifest(manifest("quiet")));
    await until(() => runRes(out).length);
    await until(() => events(out).includes("VmRunning/Disconnected"));
    await Bun.sleep(400);
    expect(events(out).filter((e) => e === "VmRunning/Disconnected")).toHaveLength(1);
    expect(pidAlive(m.find("quiet")!.pid)).toBe(true);
  });

  test("corrupted request bytes → Failed event, nothing started", async () => {
    const { m, out, backend } = setup();
    m.handle({ runReqChunks: { data: new Uint8Array([0xff, 0xff, 0xff]), id: "9", is_last: false } });
    m.handle({ runReqChunks: { data: new Uint8Array(0), id: "9", is_last: true } });
    await until(() => runRes(out).length);
    expect(Buffer.from(out.find((x) => x.agent_event?.status === "Failed")!.agent_event.details).toString()).toContain("corrupted");
    expect(backend.list()).toEqual([]);
  });

  test("StopComputation stops the VM, removes its state and answers; unknown id answers with an error", async () => {
    const { m, out, dir } = setup();
    sendChunks(m, runReqFromManifest(manifest("c3")));
    await until(() => runRes(out).length);
    const pid = m.find("c3")!.pid;
    m.handle({ stopComputation: { computation_id: "c3" } });
    const res = await until(() => out.find((x) => x.stopComputationRes));
    expect(res.stopComputationRes).toEqual({ computation_id: "c3", message: "" });
    expect(pidAlive(pid)).toBe(false);
    expect(events(out)).toContain("StopComputationRun/Completed");
    expect(readdirSync(dir).filter((f) => f.endsWith(".json"))).toEqual([]);
    m.handle({ stopComputation: { computation_id: "nope" } });
    const res2 = await until(() => out.filter((x) => x.stopComputationRes)[1]);
    expect(res2.stopComputationRes.message).toContain("entity not found");
  });

  test("SVMInfoReq and AttestationPolicyReq are answered; policy host_data is the manifest hash", async () => {
    const { m, out } = setup();
    m.handle({ svmInfoReq: { id: "s" } });
    expect(out.at(-1)!.svm_info).toMatchObject({ id: "s", cpu_num: 4, cpu_type: "EPYC", kernel_cmd: "quiet console=null" });
    const mf = manifest("c4");
    sendChunks(m, runReqFromManifest(mf));
    await until(() => runRes(out).length);
    m.handle({ attestationPolicyReq: { id: "c4" } });
    const pol = out.find((x) => x.attestationPolicy)!.attestationPolicy;
    expect(pol.id).toBe("c4");
    const policy = JSON.parse(Buffer.from(pol.info).toString());
    expect(policy.policy.host_data).toBe(Buffer.from(manifestHash(mf)).toString("base64"));
    // The process backend's program measurement, and the manager's sim root pinned (AGENT_ATTESTATION=host).
    expect(Buffer.from(policy.policy.measurement, "base64").toString("hex")).toBe((m.find("c4")!.extra as { measurement: string }).measurement);
    expect(policy.root_of_trust).toMatchObject({ product: "SIM" });
    expect(policy.root_of_trust.sim_ark_sha256).toMatch(/^[0-9a-f]{64}$/);
    const before = out.length;
    m.handle({ attestationPolicyReq: { id: "unknown" } });
    expect(out.length).toBe(before); // the original sends no reply on error
  });

  test("a restarted manager re-adopts the running VM from the state dir and drops dead records", async () => {
    const first = setup();
    sendChunks(first.m, runReqFromManifest(manifest("c5")));
    await until(() => runRes(first.out).length);
    const info = first.m.find("c5")!;
    await first.m.detach(); // manager goes away; the agent keeps running
    expect(pidAlive(info.pid)).toBe(true);
    const store = new StateStore(first.dir);
    store.save({ ...info, id: "process-gone", computationId: "gone", pid: 99_999_999 });

    const second = setup(first.dir);
    expect(await second.m.restore()).toEqual({ adopted: 1, dropped: 1 });
    expect(second.m.find("c5")!.pid).toBe(info.pid);
    expect(existsSync(join(first.dir, "process-gone.json"))).toBe(false);
    // Re-sent request after the restart: same port, no new VM.
    sendChunks(second.m, runReqFromManifest(manifest("c5")));
    const [res] = await until(() => (runRes(second.out).length ? runRes(second.out) : undefined));
    expect(res.agent_port).toBe(String(info.agentPort));
    // An agent that dies is reported as Stopped and its record removed.
    process.kill(-info.pid, "SIGKILL");
    await until(() => events(second.out).includes("VmRunning/Stopped"));
    expect(existsSync(join(first.dir, `${info.id}.json`))).toBe(false);
  });

  test("nothing of a computation outlives it: stop, TTL, a guest that dies, a dead VM at re-adoption", async () => {
    const empty = { vms: 0, starting: 0, pendingRunRequests: 0, pendingRunRequestBytes: 0, backendVms: 0 };
    const vmsDir = (dir: string) => (existsSync(join(dir, "vms")) ? readdirSync(join(dir, "vms")) : []);
    // Stopped, with a slow shutdown that closes its channels first: no spurious Disconnected.
    const a = setup(undefined, ["FAKE_AGENT_TERM_DELAY_MS=400"]);
    for (const id of ["s1", "s2", "s3"]) {
      sendChunks(a.m, runReqFromManifest(manifest(id)));
      await until(() => runRes(a.out).some((r) => r.computation_id === id), 30_000);
      const dir = a.m.find(id)!.workDir;
      await until(() => existsSync(join(dir, "agent", "received-manifest.json")));
      expect(await a.m.stop(id)).toBe("");
      expect(existsSync(dir)).toBe(false);
    }
    expect(a.m.footprint()).toEqual(empty);
    expect(vmsDir(a.dir)).toEqual([]);
    expect(events(a.out).filter((e) => e.endsWith("/Disconnected"))).toEqual([]);
    // TTL and a guest that exits by itself.
    // (Generous deadlines: on a loaded machine a TTL or an exit may even come before the manifest.)
    const b = setup(undefined, [], { MANAGER_VM_TTL: "1s" });
    sendChunks(b.m, runReqFromManifest(manifest("ttl")));
    const c = setup(undefined, ["FAKE_AGENT_EXIT_AFTER_MS=1000"]);
    sendChunks(c.m, runReqFromManifest(manifest("dies-later")));
    for (const x of [b, c]) {
      await until(() => runRes(x.out).length && x.m.footprint().vms === 0 && vmsDir(x.dir).length === 0, 30_000);
      expect(x.m.footprint()).toEqual(empty);
    }
    // A VM that died while no manager ran: the next one drops its record and its directory.
    const d = setup();
    sendChunks(d.m, runReqFromManifest(manifest("orphan")));
    await until(() => runRes(d.out).length, 30_000);
    const info = d.m.find("orphan")!;
    await d.m.detach();
    process.kill(-info.pid, "SIGKILL");
    await until(() => !pidAlive(info.pid));
    const e = setup(d.dir);
    expect(await e.m.restore()).toEqual({ adopted: 0, dropped: 1 });
    expect(vmsDir(d.dir)).toEqual([]);
    expect(readdirSync(d.dir).filter((f) => f.endsWith(".json"))).toEqual([]);
  });
});
