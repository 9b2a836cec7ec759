import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startManager } from "./app.ts";
import { allowedHosts } from "./http.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const body = async (r: Response) => (await r.json()) as Record<string, any>;

async function manager(extra: Record<string, string> = {}) {
  const stateDir = mkdtempSync(join(tmpdir(), "cocos-http-"));
  cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }));
  const mgr = await startManager({
    PATH: process.env.PATH,
    MANAGER_GRPC_URL: "127.0.0.1:1", // nothing listens: the API works without a control plane
    MANAGER_BACKEND: "process",
    MANAGER_AGENT_BIN: "/bin/false",
    MANAGER_STATE_DIR: stateDir,
    MANAGER_HTTP_PORT: "0",
    MANAGER_LOG_LEVEL: "error",
    ...extra,
  });
  cleanups.push(() => mgr.shutdown());
  return { mgr, stateDir, url: `http://127.0.0.1:${mgr.http!.port}` };
}

describe("manager HTTP API access", () => {
  test("binds loopback by default; token generated once, kept 0600 in the state dir, and reused", async () => {
    const { mgr, stateDir } = await manager();
    expect(mgr.http!.hostname).toBe("127.0.0.1");
    const file = join(stateDir, "http-token");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8").trim()).toBe(mgr.httpToken);
    expect(mgr.httpToken.length).toBeGreaterThanOrEqual(40);
    await mgr.shutdown();
    const again = await startManager({ PATH: process.env.PATH, MANAGER_GRPC_URL: "127.0.0.1:1", MANAGER_BACKEND: "process", MANAGER_AGENT_BIN: "/bin/false", MANAGER_STATE_DIR: stateDir, MANAGER_HTTP_PORT: "0", MANAGER_LOG_LEVEL: "error" });
    cleanups.push(() => again.shutdown());
    expect(again.httpToken).toBe(mgr.httpToken);
  });

  test("no token or a wrong token → 401 with WWW-Authenticate: Bearer; the right one → 200; /health is open", async () => {
    const { mgr, url } = await manager();
    for (const path of ["/vms", "/vms/x", "/metrics"]) {
      const none = await fetch(`${url}${path}`);
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toStartWith("Bearer");
      expect((await body(none)).error).toContain("expected an Authorization: Bearer");
      const wrong = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${mgr.httpToken.slice(0, -1)}x` } });
      expect(wrong.status).toBe(401);
      expect((await body(wrong)).error).toContain("wrong");
    }
    expect((await fetch(`${url}/vms/x`, { method: "DELETE" })).status).toBe(401);
    expect((await fetch(`${url}/vms`, { headers: { authorization: `Basic ${mgr.httpToken}` } })).status).toBe(401);
    const ok = await fetch(`${url}/vms`, { headers: { authorization: `Bearer ${mgr.httpToken}` } });
    expect(ok.status).toBe(200);
    expect(await body(ok)).toEqual([]);
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect((await body(health)).status).toBe("pass");
  });

  test("MANAGER_HTTP_TOKEN overrides the file; a short one is refused", async () => {
    const { url } = await manager({ MANAGER_HTTP_TOKEN: "a-token-from-the-environment" });
    expect((await fetch(`${url}/vms`, { headers: { authorization: "Bearer a-token-from-the-environment" } })).status).toBe(200);
    await expect(manager({ MANAGER_HTTP_TOKEN: "short" })).rejects.toThrow(/MANAGER_HTTP_TOKEN: expected at least 16 characters/);
  });

  test("a DNS-rebinding Host (evil.example:PORT) is refused with 421, even with the token and on /health", async () => {
    const { mgr, url } = await manager();
    const port = mgr.http!.port!;
    for (const path of ["/health", "/vms"]) {
      const r = await fetch(`${url}${path}`, { headers: { host: `evil.example:${port}`, authorization: `Bearer ${mgr.httpToken}` } });
      expect(r.status).toBe(421);
      expect((await body(r)).error).toContain('Host "evil.example:');
    }
    // localhost with the right port is fine; the wrong port is not.
    expect((await fetch(`${url}/health`, { headers: { host: `localhost:${port}` } })).status).toBe(200);
    expect((await fetch(`${url}/health`, { headers: { host: `localhost:${port + 1}` } })).status).toBe(421);
  });

  test("allowed Host values: bound address, loopback names, configured names, each with the port", () => {
    const ok = allowedHosts("0.0.0.0", 7003, ["mgr.internal"]);
    expect(["127.0.0.1:7003", "LOCALHOST:7003", "[::1]:7003", "mgr.internal:7003"].every(ok)).toBe(true);
    expect(["0.0.0.0:7003", "mgr.internal", "evil.example:7003", "", "127.0.0.1:80"].some(ok)).toBe(false);
  });
});
