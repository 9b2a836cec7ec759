// Computations server (cli) ↔ manager (process backend, stand-in agent) over real gRPC: the manager
// gets the chunked request, boots, answers; the server goes away and comes back; the manager
// reconnects and keeps its VM. Also the manager's HTTP API.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startComputationsServer, type ClientStreamMessage, type ComputationsServer } from "../cli/computations-server.ts";
import { startManager } from "../manager/app.ts";
import { pidAlive } from "../manager/backend.ts";
import { generateKeyPair, loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { runReqFromManifest, type Manifest } from "../protocol/manifest.ts";

const FAKE = `${process.execPath} ${join(import.meta.dir, "..", "manager", "testdata", "fake-agent.ts")}`;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until<T>(f: () => T | undefined | false | 0, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(25);
  }
}

test("manager reconnects to a computations server that went away and keeps its VMs", async () => {
  const key = publicKeyDer(loadPublicKey(generateKeyPair("ed25519").publicPem));
  const manifest: Manifest = {
    id: "7",
    name: "link",
    description: "",
    datasets: [],
    algorithm: { hash: new Uint8Array(32).fill(5), user_key: key },
    result_consumers: [{ user_key: key }],
    agent_config: { port: "7002", log_level: "info" },
  };
  const runReq = runReqFromManifest(manifest) as Record<string, unknown>;
  const got: ClientStreamMessage[] = [];
  const serve = async (port = 0) => {
    const s = await startComputationsServer({ host: "127.0.0.1", port, runReq });
    s.onMessage((m) => got.push(m));
    return s;
  };
  let server: ComputationsServer = await serve();
  const port = server.port;
  cleanups.push(() => server.close());

  const stateDir = mkdtempSync(join(tmpdir(), "cocos-link-"));
  cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }));
  const mgr = await startManager({
    PATH: process.env.PATH,
    MANAGER_GRPC_URL: `127.0.0.1:${port}`,
    MANAGER_BACKEND: "process",
    MANAGER_AGENT_BIN: FAKE,
    MANAGER_STATE_DIR: stateDir,
    MANAGER_HTTP_HOST: "127.0.0.1",
    MANAGER_HTTP_PORT: "0",
    MANAGER_LOG_LEVEL: process.env.TEST_DEBUG ? "debug" : "error",
    MANAGER_GRPC_RECONNECT_INITIAL: "100ms",
    MANAGER_GRPC_RECONNECT_MAX: "500ms",
    MANAGER_STOP_GRACE: "5s",
  });
  cleanups.push(async () => {
    for (const v of mgr.manager.list()) await mgr.manager.stop(v.computationId, true);
    await mgr.shutdown();
  });

  const first = await until(() => got.find((m) => m.run_res)?.run_res);
  expect(first.computation_id).toBe("7");
  expect(Number(first.agent_port)).toBeGreaterThan(0);
  const vm = mgr.manager.find("7")!;
  expect(await until(() => got.find((m) => m.agent_event?.originator === "agent"))).toBeDefined();

  const http = `http://127.0.0.1:${mgr.http!.port}`;
  const auth = { authorization: `Bearer ${mgr.httpToken}` };
  const health = await (await fetch(`${http}/health`)).json();
  expect(health).toMatchObject({ status: "pass", backend: "process", computations_server_connected: true, vms: 1 });
  const vms = (await (await fetch(`${http}/vms`, { headers: auth })).json()) as { id: string }[];
  expect(vms.map((v) => v.id)).toEqual([vm.id]);
  expect((await fetch(`${http}/vms/${vm.id}`, { headers: auth })).status).toBe(200);
  expect((await fetch(`${http}/vms/nope`, { headers: auth })).status).toBe(404);
  expect(await (await fetch(`${http}/metrics`, { headers: auth })).text()).toContain('manager_api_request_count{method="Run"} 1');

  // The server goes away: the manager notices, keeps the VM, and queues what the agent says.
  await server.close();
  await until(() => !mgr.link.connected);
  expect(pidAlive(vm.pid)).toBe(true);
  got.length = 0;
  server = await serve(port);
  // Back: the re-sent request is answered with the same port; no second VM.
  const again = await until(() => got.find((m) => m.run_res)?.run_res);
  expect(again.agent_port).toBe(first.agent_port);
  expect(mgr.manager.list()).toHaveLength(1);
  expect(mgr.link.connects).toBeGreaterThanOrEqual(2);

  const del = await fetch(`${http}/vms/${vm.id}`, { method: "DELETE", headers: auth });
  expect(del.status).toBe(200);
  expect(pidAlive(vm.pid)).toBe(false);
  expect(await until(() => got.find((m) => m.agent_event?.event_type === "StopComputationRun"))).toBeDefined();
});
