// The console's API in-process, on SQLite and on PostgreSQL (when COCOS_TEST_POSTGRES_URL is set),
// with stand-in managers dialling its gRPC port. Each security check has a test that fails when the protection is removed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair } from "../protocol/keys.ts";
import { startConsole, type RunningConsole } from "./app.ts";
import { tokenHash } from "./auth.ts";
import { FakeManager, testDatabases, until } from "./testkit.ts";

const dir = mkdtempSync(join(tmpdir(), "console-api-"));
let con: RunningConsole;
const grpcUrl = () => `127.0.0.1:${con.grpcPort}`;

interface Res { status: number; body: any; headers: Headers }

class Client {
  token = "";
  cookie = "";
  constructor(private readonly csrf = true) {}
  async req(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined && !h["content-type"]) h["content-type"] = "application/json";
    if (this.token) h.authorization = `Bearer ${this.token}`;
    if (this.cookie) h.cookie = this.cookie;
    if (this.csrf && !("x-cocos-csrf" in h)) h["x-cocos-csrf"] = "1";
    const r = await fetch(con.url + path, { method, headers: h, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    const set = r.headers.get("set-cookie");
    if (set?.startsWith("cocos_session=")) this.cookie = set.split(";")[0]!;
    return { status: r.status, body: parsed, headers: r.headers };
  }
}

async function user(name: string): Promise<Client> {
  const c = new Client();
  const r = await c.req("POST", "/api/auth/register", { username: name, password: `${name}-password` });
  expect(r.status).toBe(201);
  const t = await new Client().req("POST", "/api/auth/token", { username: name, password: `${name}-password` });
  const b = new Client();
  b.token = t.body.token;
  return b;
}

const HEX = (c: string) => c.repeat(64);
let admin: Client, alice: Client, bob: Client, carol: Client, eve: Client;
let managerToken = "";

const dbs = testDatabases(() => dir);
afterAll(async () => {
  for (const d of dbs) await d.cleanup();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function startOn(url: string) {
  con = await startConsole({ CONSOLE_DB: url, CONSOLE_HTTP_PORT: "0", CONSOLE_GRPC_PORT: "0", CONSOLE_LOGIN_MAX_FAILURES: "3" }, { quiet: true });
  admin = await user("admin");
  alice = await user("alice");
  bob = await user("bob");
  carol = await user("carol");
  eve = await user("eve");
  managerToken = (await admin.req("POST", "/api/managers", { id: "m1", description: "test" })).body.token;
}

/** alice owns an Iris-like computation: bob provides the algorithm and data, carol consumes. */
async function irisComputation(name = "iris"): Promise<{ id: string; pids: Record<string, number> }> {
  const c = (await alice.req("POST", "/api/computations", { name, description: "train" })).body.computation;
  const pids: Record<string, number> = {};
  for (const [u, role] of [["bob", "algorithm_provider"], ["carol", "result_consumer"], ["alice", "data_provider"]] as const) {
    const r = await alice.req("POST", `/api/computations/${c.id}/participants`, { username: u, role });
    expect(r.status).toBe(201);
    pids[u] = r.body.participant.id;
  }
  for (const [who, client] of [["bob", bob], ["carol", carol], ["alice", alice]] as const) {
    const r = await client.req("PUT", `/api/computations/${c.id}/participants/${pids[who]}/key`, { public_key: generateKeyPair("ed25519").publicPem });
    expect(r.status).toBe(200);
  }
  expect((await bob.req("POST", `/api/computations/${c.id}/assets`, { kind: "algorithm", filename: "iris-train.wasm", sha3_256: HEX("a") })).status).toBe(201);
  expect((await alice.req("POST", `/api/computations/${c.id}/assets`, { kind: "dataset", filename: "Iris.csv", sha3_256: HEX("b") })).status).toBe(201);
  return { id: c.id, pids };
}

for (const d of dbs) {
  describe(`API on ${d.name}`, () => {
    beforeAll(async () => startOn(await d.url()), 30_000);
    afterAll(() => con.stop());

    describe("users and sessions", () => {
      test("the first user is the admin; later ones are not; passwords are argon2id hashes", async () => {
        expect((await admin.req("GET", "/api/me")).body.user.is_admin).toBe(true);
        expect((await alice.req("GET", "/api/me")).body.user.is_admin).toBe(false);
        expect((await con.store.userByName("alice"))!.password_hash).toStartWith("$argon2id$");
      });

      test("register: taken name → 409, short password → 400", async () => {
        expect((await new Client().req("POST", "/api/auth/register", { username: "alice", password: "whatever-long" })).status).toBe(409);
        const r = await new Client().req("POST", "/api/auth/register", { username: "zed", password: "short" });
        expect(r.status).toBe(400);
        expect(r.body.error.message).toContain("at least 8 characters");
      });

      test("cookie session: HttpOnly, SameSite=Strict; logout ends it", async () => {
        const c = new Client();
        const r = await c.req("POST", "/api/auth/login", { username: "bob", password: "bob-password" });
        expect(r.status).toBe(200);
        expect(r.headers.get("set-cookie")).toMatch(/HttpOnly; SameSite=Strict/);
        expect((await c.req("GET", "/api/me")).body.user.username).toBe("bob");
        expect((await c.req("POST", "/api/auth/logout")).status).toBe(204);
        const after = new Client();
        after.cookie = c.cookie || r.headers.get("set-cookie")!.split(";")[0]!;
        expect((await after.req("GET", "/api/me")).status).toBe(401);
      });

      test("repeated wrong passwords are rate limited (429 with Retry-After), even for the right one then", async () => {
        await new Client().req("POST", "/api/auth/register", { username: "victim", password: "victim-password" });
        for (let i = 0; i < 3; i++) expect((await new Client().req("POST", "/api/auth/login", { username: "victim", password: "guess" + i })).status).toBe(401);
        const r = await new Client().req("POST", "/api/auth/login", { username: "victim", password: "victim-password" });
        expect(r.status).toBe(429);
        expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
      });

      test("a forged token and an expired session are refused with 401", async () => {
        const forged = new Client();
        forged.token = "ct_" + "A".repeat(43);
        expect((await forged.req("GET", "/api/computations")).status).toBe(401);
        await con.store.createSession({ token_hash: tokenHash("ct_expired"), user_id: 2, kind: "bearer", name: "", created_at: 0, expires_at: Date.now() - 1 });
        const old = new Client();
        old.token = "ct_expired";
        const r = await old.req("GET", "/api/computations");
        expect(r.status).toBe(401);
        expect(r.body.error.message).toContain("expired");
      });
    });

    describe("request protections", () => {
      test("CSRF: a cookie-authenticated change without X-Cocos-CSRF, or from another Origin, is refused", async () => {
        const c = new Client(false);
        await c.req("POST", "/api/auth/login", { username: "alice", password: "alice-password" }, { "x-cocos-csrf": "1" });
        expect(c.cookie).toStartWith("cocos_session=");
        const noHeader = await c.req("POST", "/api/computations", { name: "csrf" });
        expect(noHeader.status).toBe(403);
        expect(noHeader.body.error.code).toBe("csrf");
        const foreign = await c.req("POST", "/api/computations", { name: "csrf" }, { "x-cocos-csrf": "1", origin: "https://evil.example" });
        expect(foreign.status).toBe(403);
        // Login itself is protected too (login CSRF).
        expect((await new Client(false).req("POST", "/api/auth/login", { username: "alice", password: "alice-password" })).status).toBe(403);
        expect((await c.req("POST", "/api/computations", { name: "ok" }, { "x-cocos-csrf": "1", origin: con.url })).status).toBe(201);
      });

      test("malformed JSON → 400, not JSON → 415, an array → 400, too large → 413", async () => {
        const bad = await alice.req("POST", "/api/computations", "{name:");
        expect(bad.status).toBe(400);
        expect(bad.body.error.code).toBe("bad_json");
        expect((await alice.req("POST", "/api/computations", "name=x", { "content-type": "application/x-www-form-urlencoded" })).status).toBe(415);
        expect((await alice.req("POST", "/api/computations", "[1]")).status).toBe(400);
        expect((await alice.req("POST", "/api/computations", JSON.stringify({ name: "x".repeat(2 << 20) }))).status).toBe(413);
      });

      test("a Content-Security-Policy and nosniff on the UI and the API; HTML in names comes back as data", async () => {
        const page = await fetch(con.url + "/");
        expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
        expect(page.headers.get("x-content-type-options")).toBe("nosniff");
        const name = `<script>alert(1)</script><img src=x onerror=alert(2)>`;
        const r = await alice.req("POST", "/api/computations", { name, description: "<b>bold</b>" });
        expect(r.headers.get("content-type")).toContain("application/json");
        expect(r.headers.get("content-security-policy")).toContain("default-src 'self'");
        expect(r.body.computation.name).toBe(name);
      });

      test("SQL injection in every text field is stored as text or refused; nothing else changes", async () => {
        const sql = `'; DROP TABLE users; --`;
        const c = (await alice.req("POST", "/api/computations", { name: sql, description: `" OR 1=1 --` })).body.computation;
        expect(c.name).toBe(sql);
        expect((await alice.req("POST", `/api/computations/${c.id}/participants`, { username: sql, role: "data_provider" })).status).toBe(404);
        expect((await alice.req("POST", "/api/computations/" + encodeURIComponent(`x' OR '1'='1`) + "/participants", { username: "bob", role: "data_provider" })).status).toBe(404);
        expect((await alice.req("POST", `/api/computations/${c.id}/assets`, { kind: "dataset", filename: sql, sha3_256: HEX("c") })).status).toBe(403);
        expect((await new Client().req("POST", "/api/auth/login", { username: `admin' --`, password: "x" })).status).toBe(401);
        expect((await admin.req("POST", "/api/managers", { id: sql })).status).toBe(400);
        expect((await alice.req("GET", `/api/computations/${c.id}/events?source=${encodeURIComponent(sql)}&status=${encodeURIComponent(sql)}`)).body.events).toEqual([]);
        expect((await con.store.userByName("admin"))!.is_admin).toBe(true);
        expect((await alice.req("GET", "/api/computations")).status).toBe(200);
      });
    });

    describe("computations", () => {
      test("only the owner edits; a participant sees it; anyone else gets 404 everywhere", async () => {
        const { id, pids } = await irisComputation("visibility");
        expect((await bob.req("GET", `/api/computations/${id}`)).status).toBe(200);
        expect((await bob.req("PATCH", `/api/computations/${id}`, { name: "mine" })).status).toBe(403);
        for (const [m, p, b] of [
          ["GET", `/api/computations/${id}`],
          ["PATCH", `/api/computations/${id}`, { name: "x" }],
          ["DELETE", `/api/computations/${id}`],
          ["GET", `/api/computations/${id}/manifest`],
          ["GET", `/api/computations/${id}/events`],
          ["GET", `/api/computations/${id}/events/stream`],
          ["GET", `/api/computations/${id}/export`],
          ["POST", `/api/computations/${id}/runs`, { manager_id: "m1" }],
          ["PUT", `/api/computations/${id}/participants/${pids.bob}/key`, { public_key: generateKeyPair("ed25519").publicPem }],
        ] as [string, string, unknown?][]) {
          const r = await eve.req(m, p, b);
          expect(`${m} ${p} ${r.status}`).toBe(`${m} ${p} 404`);
        }
        expect((await eve.req("GET", "/api/computations")).body.computations.map((c: { id: string }) => c.id)).not.toContain(id);
        expect((await eve.req("GET", "/api/computations/cdoesnotexist")).body.error.message).toContain("not found");
      });

      test("keys: not a key, a private key, a P-384 key → 400; nobody uploads another's key", async () => {
        const { id, pids } = await irisComputation("keys");
        const put = (c: Client, pid: number, k: string) => c.req("PUT", `/api/computations/${id}/participants/${pid}/key`, { public_key: k });
        const notKey = await put(bob, pids.bob!, "hello");
        expect(notKey.status).toBe(400);
        expect(notKey.body.error.code).toBe("invalid_public_key");
        expect((await put(bob, pids.bob!, generateKeyPair("ecdsa").privatePem)).body.error.message).toContain("private key");
        const { publicKey } = require("node:crypto").generateKeyPairSync("ec", { namedCurve: "P-384" });
        expect((await put(bob, pids.bob!, publicKey.export({ type: "spki", format: "pem" }))).body.error.message).toContain("P-256");
        expect((await put(alice, pids.bob!, generateKeyPair("rsa").publicPem)).status).toBe(403);
      });

      test("assets: a checksum that is not 64 hex → 400; two assets with one file name → 409; a second algorithm → 409", async () => {
        const { id } = await irisComputation("assets");
        const bad = await alice.req("POST", `/api/computations/${id}/assets`, { kind: "dataset", filename: "x.csv", sha3_256: "abc" });
        expect(bad.status).toBe(400);
        expect(bad.body.error.message).toContain("64 hex characters");
        expect((await alice.req("POST", `/api/computations/${id}/assets`, { kind: "dataset", filename: "Iris.csv", sha3_256: HEX("d") })).status).toBe(409);
        expect((await bob.req("POST", `/api/computations/${id}/assets`, { kind: "algorithm", filename: "other.wasm", sha3_256: HEX("e") })).status).toBe(409);
        expect((await alice.req("POST", `/api/computations/${id}/assets`, { kind: "dataset", filename: "../etc/passwd", sha3_256: HEX("e") })).status).toBe(400);
        // carol is a result consumer: she registers no dataset.
        expect((await carol.req("POST", `/api/computations/${id}/assets`, { kind: "dataset", filename: "c.csv", sha3_256: HEX("e") })).status).toBe(403);
      });

      test("manifest preview: what is missing, then the canonical JSON and its SHA3-256 with signatures v2-only", async () => {
        const c = (await alice.req("POST", "/api/computations", { name: "draft" })).body.computation;
        const m = (await alice.req("GET", `/api/computations/${c.id}/manifest`)).body;
        expect(m.sha3_256).toBeNull();
        expect(m.missing).toContain("no algorithm registered");
        const { id } = await irisComputation("preview");
        const full = (await alice.req("GET", `/api/computations/${id}/manifest`)).body;
        expect(full.sha3_256).toMatch(/^[0-9a-f]{64}$/);
        expect(JSON.parse(full.json)).toMatchObject({ id, signatures: "v2-only", agent_config: { attested_tls: true } });
        const { manifestHash, parseManifest } = await import("../protocol/manifest.ts");
        expect(Buffer.from(manifestHash(parseManifest(full.json))).toString("hex")).toBe(full.sha3_256);
      });

      test("export, import preview (warnings), import: keys of others are not imported", async () => {
        const { id } = await irisComputation("export");
        const doc = (await alice.req("GET", `/api/computations/${id}/export`)).body;
        doc.participants.push({ username: "nobody", role: "data_provider", public_key: null });
        const preview = (await alice.req("POST", "/api/computations/import/preview", doc)).body;
        expect(preview.warnings.join("\n")).toContain("nobody does not exist");
        expect(preview.warnings.join("\n")).toContain("bob's key is not imported");
        const created = (await alice.req("POST", "/api/computations/import", doc)).body.computation;
        const d = (await alice.req("GET", `/api/computations/${created.id}`)).body;
        expect(d.participants.map((p: { username: string; has_key: boolean }) => `${p.username}:${p.has_key}`).sort()).toEqual(["alice:true", "bob:false", "carol:false"]);
        expect(d.assets.length).toBe(2);
        expect((await alice.req("POST", "/api/computations/import", { ...doc, format: "other" })).status).toBe(400);
      });
    });

    describe("managers and runs", () => {
      test("an unregistered manager, a wrong token and a missing id are refused (UNAUTHENTICATED)", async () => {
        for (const [id, tok] of [["ghost", "x"], ["m1", "wrong"], ["", ""]] as const) {
          const f = new FakeManager(grpcUrl(), id, tok).connect();
          const s = await f.ended;
          expect(s.code).toBe(16);
          f.close();
        }
      });

      test("two managers claiming one id: the second is refused (ALREADY_EXISTS)", async () => {
        const first = new FakeManager(grpcUrl(), "m1", managerToken).connect();
        await until(() => con.hub.isConnected("m1"), "m1 connected");
        const second = new FakeManager(grpcUrl(), "m1", managerToken).connect();
        const s = await second.ended;
        expect(s.code).toBe(6);
        expect(s.details).toContain("already connected");
        expect(con.hub.isConnected("m1")).toBe(true);
        second.close();
        first.close();
        await until(() => !con.hub.isConnected("m1"), "m1 gone");
      });

      test("only the admin registers managers", async () => {
        expect((await alice.req("POST", "/api/managers", { id: "mine" })).status).toBe(403);
      });

      test("a run: start on a connected manager, state follows events, manager drop and return noted, policy, SSE, stop", async () => {
        const { id } = await irisComputation("run");
        expect((await alice.req("POST", `/api/computations/${id}/runs`, { manager_id: "m1" })).status).toBe(409); // offline
        expect((await alice.req("POST", `/api/computations/${id}/runs`, { manager_id: "nope" })).status).toBe(404);
        const mgr = new FakeManager(grpcUrl(), "m1", managerToken).connect();
        await until(() => con.hub.isConnected("m1"), "m1 connected");
        expect((await bob.req("POST", `/api/computations/${id}/runs`, { manager_id: "m1" })).status).toBe(403);
        const started = await alice.req("POST", `/api/computations/${id}/runs`, { manager_id: "m1" });
        expect(started.status).toBe(201);
        const runId = started.body.run.id;
        expect((await alice.req("POST", `/api/computations/${id}/runs`, { manager_id: "m1" })).status).toBe(409); // one active run
        expect((await alice.req("PATCH", `/api/computations/${id}`, { name: "changed" })).status).toBe(409); // frozen while running
        await until(() => mgr.runs.length === 1, "run request");
        expect(mgr.runs[0]!.id).toBe(id);

        // Live timeline over SSE (as the participant carol).
        const sse = await fetch(`${con.url}/api/computations/${id}/events/stream?run=${runId}`, { headers: { authorization: `Bearer ${carol.token}` } });
        expect(sse.headers.get("content-type")).toContain("text/event-stream");
        const reader = sse.body!.getReader();
        let seen = "";
        const readUntil = async (needle: string) => {
          for (let i = 0; i < 100 && !seen.includes(needle); i++) seen += new TextDecoder().decode((await reader.read()).value);
          return seen.includes(needle);
        };

        mgr.event(id, "VmProvision", "Completed", "manager");
        mgr.send({ run_res: { agent_port: "7123", computation_id: id } });
        await until(async () => (await alice.req("GET", `/api/runs/${runId}`)).body.run.state === "running", "running");
        await until(() => mgr.received.some((m) => m.attestationPolicyReq), "policy request");
        // A policy for another manifest (host_data) is refused; the right one is kept.
        mgr.send({ attestationPolicy: { id, info: Buffer.from(JSON.stringify({ policy: { host_data: Buffer.alloc(32, 7).toString("base64") } })) } });
        const hostData = Buffer.from(started.body.run.manifest_sha3_256, "hex").toString("base64");
        mgr.send({ attestationPolicy: { id, info: Buffer.from(JSON.stringify({ policy: { host_data: hostData } })) } });
        const run = await until(async () => {
          const r = (await carol.req("GET", `/api/runs/${runId}`)).body;
          return r.run.has_policy ? r : null;
        }, "policy");
        expect(run.run.agent_address).toBe("127.0.0.1:7123");
        expect(run.cli.env).toMatchObject({ AGENT_GRPC_URL: "127.0.0.1:7123", COCOS_COMPUTATION_ID: id, AGENT_GRPC_ATTESTED_TLS: "true" });
        expect(run.cli.algorithm_provider[0]).toContain("cocos-cli algo iris-train.wasm private.pem -a wasm");
        expect(run.cli.policy_download).toBe(`/api/runs/${runId}/policy`);
        const policy = await carol.req("GET", `/api/runs/${runId}/policy`);
        expect(policy.body).toEqual({ policy: { host_data: hostData } });
        await con.writer.flush();
        const refusedPolicy = (await alice.req("GET", `/api/computations/${id}/events?status=Failed`)).body.events;
        expect(refusedPolicy[0].details).toContain("is not this run's manifest hash");
        expect((await eve.req("GET", `/api/runs/${runId}/policy`)).status).toBe(404);

        // The manager drops mid-run: noted; events sent after it returns continue the same run.
        mgr.disconnect();
        await until(() => !con.hub.isConnected("m1"), "m1 gone");
        mgr.connect();
        await until(() => con.hub.isConnected("m1"), "m1 back");
        mgr.event(id, "Running", "Completed");
        mgr.event(id, "ConsumingResults", "Ready");
        await until(async () => (await alice.req("GET", `/api/runs/${runId}`)).body.run.state === "results_ready", "results ready");
        expect(await readUntil("ConsumingResults")).toBe(true);
        expect(seen).toContain("event: run");
        await reader.cancel();
        await con.writer.flush();
        const link = (await alice.req("GET", `/api/computations/${id}/events?source=console&run=${runId}`)).body.events.map((e: { status: string }) => e.status);
        expect(link).toEqual(expect.arrayContaining(["Starting", "Disconnected", "Connected"]));
        // Filters and pagination.
        const agentOnly = (await alice.req("GET", `/api/computations/${id}/events?source=agent`)).body.events;
        expect(agentOnly.map((e: { event_type: string }) => e.event_type)).toEqual(["Running", "ConsumingResults"]);
        const p1 = (await alice.req("GET", `/api/computations/${id}/events?limit=2`)).body;
        expect(p1.events.length).toBe(2);
        const p2 = (await alice.req("GET", `/api/computations/${id}/events?limit=2&after=${p1.next_after}`)).body;
        expect(p2.events[0].id).toBeGreaterThan(p1.events[1].id);
        expect((await alice.req("GET", `/api/computations/${id}/events?from=yesterday`)).status).toBe(400);

        // Managers page: the VM shows, with its computation for those who may see it.
        const ms = (await carol.req("GET", "/api/managers")).body.managers;
        expect(ms[0]).toMatchObject({ id: "m1", connected: true, vm_count: 1 });
        expect(ms[0].vms[0].computation.id).toBe(id);
        expect((await eve.req("GET", "/api/managers")).body.managers[0].vms[0].computation).toBeNull();

        const stop = await alice.req("POST", `/api/runs/${runId}/stop`);
        expect(stop.status).toBe(202);
        await until(() => mgr.received.some((m) => m.stopComputation), "stop sent");
        mgr.event(id, "StopComputationRun", "Completed", "manager");
        await until(async () => (await alice.req("GET", `/api/runs/${runId}`)).body.run.state === "stopped", "stopped");
        mgr.close();
      });

      test("a manager cannot write into the timeline of a computation not run on it", async () => {
        const { id } = await irisComputation("foreign");
        const { token } = (await admin.req("POST", "/api/managers", { id: "m2" })).body;
        const m2 = new FakeManager(grpcUrl(), "m2", token).connect();
        await until(() => con.hub.isConnected("m2"), "m2 connected");
        const before = con.hub.foreignDropped;
        m2.event(id, "Complete", "Completed", "agent", "forged");
        m2.send({ agent_log: { message: "forged log", computation_id: id, level: "INFO" } });
        await until(() => con.hub.foreignDropped === before + 2, "forged records dropped");
        await con.writer.flush();
        expect((await alice.req("GET", `/api/computations/${id}/events`)).body.events).toEqual([]);
        m2.close();
      });

      test("a run whose manager goes away before its answer: start refused once it is gone", async () => {
        const { id } = await irisComputation("gone");
        const mgr = new FakeManager(grpcUrl(), "m1", managerToken).connect();
        await until(() => con.hub.isConnected("m1"), "m1 connected");
        mgr.close();
        await until(() => !con.hub.isConnected("m1"), "m1 gone");
        const r = await alice.req("POST", `/api/computations/${id}/runs`, { manager_id: "m1" });
        expect(r.status).toBe(409);
        expect(r.body.error.code).toBe("manager_offline");
      });

      test("the OpenAPI document lists the routes", async () => {
        const doc = (await new Client().req("GET", "/openapi.json")).body;
        expect(doc.openapi).toBe("3.1.0");
        expect(Object.keys(doc.paths)).toContain("/api/computations/{id}/events/stream");
      });
    });
  });
}
