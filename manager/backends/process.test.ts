import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { pidAlive, VmNotFoundError, type VmExit, type VmInfo } from "../backend.ts";
import { openVmChannels, type EventsLogsMsg } from "../channels.ts";
import { silentLogger } from "../log.ts";
import { ProcessBackend, agentCommand } from "./process.ts";

const FAKE = [process.execPath, join(import.meta.dir, "..", "testdata", "fake-agent.ts")];
const dirs: string[] = [];
const pids: number[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "cocos-pb-"));
  dirs.push(d);
  return d;
}

function spec(id: string, env: Record<string, string> = {}) {
  const json = new TextEncoder().encode(JSON.stringify({ id }));
  return { computationId: id, manifestJson: json, manifestHash: new Uint8Array(32).fill(7), agentEnv: env };
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

function tcpAnswers(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let data = "";
    s.on("data", (d) => (data += d));
    s.on("end", () => resolve(data));
    s.on("error", reject);
  });
}

afterEach(() => {
  for (const p of pids.splice(0)) if (pidAlive(p)) process.kill(-p, "SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("process backend", () => {
  test("starts the agent with its own dir, port and channels; manifest down, events up; stop", async () => {
    const b = new ProcessBackend({ vmsDir: tmp(), agentArgv: FAKE });
    const exits: VmExit[] = [];
    b.onExit((e) => exits.push(e));
    const info = await b.start(spec("c1"));
    pids.push(info.pid);
    expect(info.backend).toBe("process");
    expect(info.computationId).toBe("c1");
    expect(pidAlive(info.pid)).toBe(true);
    expect(info.manifestHash).toBe("07".repeat(32));
    expect(b.list().map((v) => v.id)).toEqual([info.id]);

    const got: EventsLogsMsg[] = [];
    const ch = openVmChannels(info.channelPaths, (m) => got.push(m), silentLogger);
    await ch.sendManifest(spec("c1").manifestJson);
    await until(() => got.length >= 2);
    const [ev, lg] = got;
    expect(ev!.message === "agent_event" && ev!.agent_event.event_type).toBe("ReceivingAlgorithm");
    expect(lg!.message === "agent_log" && lg!.agent_log.message).toBe("fake agent got the manifest");
    expect(readFileSync(join(info.workDir, "agent", "received-manifest.json"), "utf8")).toBe('{"id":"c1"}');
    expect(await until(() => tcpAnswers(info.agentPort).catch(() => undefined) as never)).toBeDefined();
    await ch.close();

    await b.stop(info.id, { graceMs: 5000 });
    expect(pidAlive(info.pid)).toBe(false);
    expect(b.list()).toEqual([]);
    expect(exits).toHaveLength(1);
    expect(exits[0]!.requested).toBe(true);
  });

  test("an agent that dies on its own yields an exit with its stderr tail", async () => {
    const b = new ProcessBackend({ vmsDir: tmp(), agentArgv: FAKE });
    const exits: VmExit[] = [];
    const outs: string[] = [];
    b.onExit((e) => exits.push(e));
    b.onOutput((o) => outs.push(o.text));
    const info = await b.start(spec("c2", { FAKE_AGENT_EXIT_AFTER_MS: "300" }));
    pids.push(info.pid);
    await until(() => exits.length === 1);
    expect(exits[0]!.requested).toBe(false);
    expect(exits[0]!.code).toBe(3);
    expect(outs.join("")).toContain("exiting on purpose");
    expect(b.list()).toEqual([]);
  });

  test("SIGKILL after the grace period when the agent ignores SIGTERM", async () => {
    const b = new ProcessBackend({ vmsDir: tmp(), agentArgv: FAKE });
    const info = await b.start(spec("c3", { FAKE_AGENT_IGNORE_TERM: "1" }));
    pids.push(info.pid);
    await Bun.sleep(400); // let it install the SIGTERM handler
    await b.stop(info.id, { graceMs: 300 });
    expect(pidAlive(info.pid)).toBe(false);
  });

  test("a second backend (restarted manager) adopts a live agent, refuses a dead one, and can stop it", async () => {
    const dir = tmp();
    const first = new ProcessBackend({ vmsDir: dir, agentArgv: FAKE });
    const info = await first.start(spec("c4"));
    pids.push(info.pid);
    first.detachAll();
    expect(pidAlive(info.pid)).toBe(true);

    const second = new ProcessBackend({ vmsDir: dir, agentArgv: FAKE, pollMs: 50 });
    const saved: VmInfo = JSON.parse(JSON.stringify(info));
    expect(await second.adopt(saved)).toBe(true);
    expect(await second.adopt({ ...saved, id: "process-dead", pid: 999_999_99 })).toBe(false);
    expect(await second.adopt({ ...saved, backend: "qemu" })).toBe(false);
    // The adopted agent still answers on its channels.
    const got: EventsLogsMsg[] = [];
    const ch = openVmChannels(saved.channelPaths, (m) => got.push(m), silentLogger);
    await ch.sendManifest(new TextEncoder().encode('{"id":"c4"}'));
    await until(() => got.length >= 1);
    await ch.close();
    const exits: VmExit[] = [];
    second.onExit((e) => exits.push(e));
    await second.stop(saved.id, { graceMs: 5000 });
    expect(pidAlive(info.pid)).toBe(false);
    expect(exits[0]!.requested).toBe(true);
  });

  test("stop of an unknown id throws VmNotFoundError", async () => {
    const b = new ProcessBackend({ vmsDir: tmp(), agentArgv: FAKE });
    await expect(b.stop("nope")).rejects.toBeInstanceOf(VmNotFoundError);
  });

  test("a missing agent binary is a clear start error", async () => {
    const b = new ProcessBackend({ vmsDir: tmp(), agentArgv: ["/nonexistent/cocos-agent"] });
    await expect(b.start(spec("c5"))).rejects.toThrow(/could not start the agent \(\/nonexistent\/cocos-agent\)/);
  });

  test("agentCommand honours MANAGER_AGENT_BIN", () => {
    expect(agentCommand({ MANAGER_AGENT_BIN: "/x/agent --flag" })).toEqual(["/x/agent", "--flag"]);
    // Without the setting: a built or source agent, or an error that says where it looked.
    try {
      const auto = agentCommand({});
      expect(existsSync(auto[auto.length - 1]!)).toBe(true);
    } catch (e) {
      expect((e as Error).message).toContain("set MANAGER_AGENT_BIN");
    }
  });
});
