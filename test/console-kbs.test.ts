// The console as the key broker, on SQLite and on PostgreSQL (when COCOS_TEST_POSTGRES_URL is set):
// the owner stores a computation's key through the authenticated API, the agent's own KBS client
// (agent/kbs-client.ts, sim evidence) gets it from the console's /kbs/v0 — only with the
// computation's manifest hash as host_data — and nobody ever reads a secret back through the API.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { KbsClient } from "../agent/kbs-client.ts";
import { trustSimRoot } from "../attestation/policy.ts";
import { generateSimRoot, SimProvider, type SimRoot } from "../attestation/providers/sim.ts";
import { startConsole, type RunningConsole } from "../console/app.ts";
import { bearerCall, registerUser, testDatabasesInTmp } from "../console/testkit.ts";
import { fromHex } from "../protocol/hash.ts";
import { generateKeyPair } from "../protocol/keys.ts";

const dbs = testDatabasesInTmp("console-kbs-");

const MEASUREMENT = new Uint8Array(48).fill(0x41);
const SECRET = new Uint8Array(32).fill(0x7e);
const SECRET_B64 = Buffer.from(SECRET).toString("base64");
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

let con: RunningConsole;
let root: SimRoot;

const call = (token: string, method: string, path: string, body?: unknown) => bearerCall(con.url, token, method, path, body);
const register = (name: string) => registerUser(con.url, name);

/** alice owns a complete computation (so it has a manifest hash): bob provides the algorithm, alice the data, carol consumes. */
async function computation(tokens: Record<"alice" | "bob" | "carol", string>): Promise<string> {
  const id = (await call(tokens.alice, "POST", "/api/computations", { name: "kbs", description: "" })).body.computation.id;
  for (const [name, role] of [["bob", "algorithm_provider"], ["alice", "data_provider"], ["carol", "result_consumer"]] as const) {
    const pid = (await call(tokens.alice, "POST", `/api/computations/${id}/participants`, { username: name, role })).body.participant.id;
    expect((await call(tokens[name], "PUT", `/api/computations/${id}/participants/${pid}/key`, { public_key: generateKeyPair("ed25519").publicPem })).status).toBe(200);
  }
  expect((await call(tokens.bob, "POST", `/api/computations/${id}/assets`, { kind: "algorithm", filename: "a.wasm", sha3_256: "a".repeat(64) })).status).toBe(201);
  expect((await call(tokens.alice, "POST", `/api/computations/${id}/assets`, { kind: "dataset", filename: "d.csv", sha3_256: "b".repeat(64) })).status).toBe(201);
  return id;
}

/** The agent's client with sim evidence of `measurement` and `hostData` (hex). */
const agent = (hostDataHex: string, measurement = MEASUREMENT) =>
  new KbsClient({ provider: new SimProvider({ root, measurement, hostData: fromHex(hostDataHex) }), attempts: 1 });

for (const d of dbs) {
  describe(`the console's KBS on ${d.name}`, () => {
    let alice = "", bob = "", carol = "", eve = "";
    let comp = { id: "", manifestHash: "" };
    const kbsPath = (p = "default/key/iris") => `/api/computations/${comp.id}/kbs/${p}`;
    const policy = () => trustSimRoot({ policy: { measurement: b64(MEASUREMENT) } }, root.arkSha256);

    beforeAll(async () => {
      root = generateSimRoot();
      con = await startConsole({ CONSOLE_DB: await d.url(), CONSOLE_HTTP_PORT: "0", CONSOLE_GRPC_PORT: "0" }, { quiet: true });
      alice = await register("alice");
      bob = await register("bob");
      carol = await register("carol");
      eve = await register("eve");
      comp.id = await computation({ alice, bob, carol });
      comp.manifestHash = (await call(alice, "GET", `/api/computations/${comp.id}/manifest`)).body.sha3_256;
      expect(comp.manifestHash).toMatch(/^[0-9a-f]{64}$/);
    }, 60_000);
    afterAll(() => con.stop());

    test("the owner stores a key with a policy; no GET ever returns the secret", async () => {
      const put = await call(alice, "PUT", kbsPath(), { secret: SECRET_B64, policy: policy() });
      expect(put.status).toBe(200);
      expect(put.body.resource.path).toBe("default/key/iris");
      for (const who of [alice, bob, carol]) {
        const list = await call(who, "GET", `/api/computations/${comp.id}/kbs`);
        const one = await call(who, "GET", kbsPath());
        expect(list.status).toBe(200);
        expect(one.status).toBe(200);
        expect(list.body.resources.map((r: { path: string }) => r.path)).toEqual(["default/key/iris"]);
        for (const t of [put.text, list.text, one.text]) {
          expect(t).not.toContain(SECRET_B64);
          expect(t).not.toContain('"secret"');
        }
      }
    });

    test("the agent gets the key from the console with evidence of this computation's manifest (host_data)", async () => {
      expect(await agent(comp.manifestHash).getResource(con.url, "default/key/iris")).toEqual(SECRET);
    });

    test("evidence of another manifest (another computation on the same image) is refused: 403 host_data", async () => {
      const err = await agent("cd".repeat(32)).getResource(con.url, "default/key/iris").catch((e: Error) => e);
      expect(String(err)).toContain("403");
      expect(String(err)).toContain("host_data");
    });

    test("evidence of another measurement is refused: 403 measurement", async () => {
      const err = await agent(comp.manifestHash, new Uint8Array(48).fill(0x99)).getResource(con.url, "default/key/iris").catch((e: Error) => e);
      expect(String(err)).toContain("403");
      expect(String(err)).toContain("measurement");
    });

    test("the manifest changing after the key was stored moves the binding: the old manifest's evidence is refused", async () => {
      const before = comp.manifestHash;
      expect((await call(alice, "PATCH", `/api/computations/${comp.id}`, { description: "changed" })).status).toBe(200);
      const after = (await call(alice, "GET", `/api/computations/${comp.id}/manifest`)).body.sha3_256;
      expect(after).not.toBe(before);
      expect(String(await agent(before).getResource(con.url, "default/key/iris").catch((e: Error) => e))).toContain("host_data");
      expect(await agent(after).getResource(con.url, "default/key/iris")).toEqual(SECRET);
      comp.manifestHash = after;
    });

    test("a participant who is not the owner can neither set nor delete a key: 403", async () => {
      const r = await call(bob, "PUT", kbsPath(), { secret: b64(new Uint8Array(32)), policy: policy() });
      expect(r.status).toBe(403);
      expect(r.body.error.message).toContain("owner");
      expect((await call(carol, "DELETE", kbsPath())).status).toBe(403);
      expect(await agent(comp.manifestHash).getResource(con.url, "default/key/iris")).toEqual(SECRET);
    });

    test("another user sees no such computation: 404 on list, get, put and delete", async () => {
      expect((await call(eve, "GET", `/api/computations/${comp.id}/kbs`)).status).toBe(404);
      expect((await call(eve, "GET", kbsPath())).status).toBe(404);
      expect((await call(eve, "PUT", kbsPath(), { secret: SECRET_B64, policy: policy() })).status).toBe(404);
      expect((await call(eve, "DELETE", kbsPath())).status).toBe(404);
    });

    test("another computation's owner cannot take over the path (409), nor read or delete it (404)", async () => {
      const evesOwn = (await call(eve, "POST", "/api/computations", { name: "eve's", description: "" })).body.computation.id;
      const r = await call(eve, "PUT", `/api/computations/${evesOwn}/kbs/default/key/iris`, { secret: b64(new Uint8Array(32)), policy: policy() });
      expect(r.status).toBe(409);
      expect((await call(eve, "GET", `/api/computations/${evesOwn}/kbs/default/key/iris`)).status).toBe(404);
      expect((await call(eve, "DELETE", `/api/computations/${evesOwn}/kbs/default/key/iris`)).status).toBe(404);
      expect(await agent(comp.manifestHash).getResource(con.url, "default/key/iris")).toEqual(SECRET);
    });

    test("bad input: no measurement, a host_data of the owner's choosing, a bad secret, a bad path — 400 saying what was expected", async () => {
      const cases: [unknown, string][] = [
        [{ secret: SECRET_B64 }, "no run of this computation has an attestation policy"],
        [{ secret: SECRET_B64, policy: trustSimRoot({}, root.arkSha256) }, "expected a measurement"],
        [{ secret: SECRET_B64, policy: { ...policy(), policy: { measurement: b64(MEASUREMENT), host_data: b64(new Uint8Array(32)) } } }, "host_data: expected none"],
        [{ secret: "not base64!", policy: policy() }, "secret: expected standard base64"],
        [{ secret: SECRET_B64, measurement: "abcd" }, "measurement"],
      ];
      for (const [body, msg] of cases) {
        const r = await call(alice, "PUT", kbsPath("default/key/bad"), body);
        expect(r.status).toBe(400);
        expect(r.body.error.message).toContain(msg);
      }
      expect((await call(alice, "PUT", kbsPath("default/key/.."), { secret: SECRET_B64, policy: policy() })).status).not.toBe(200);
      expect((await call(alice, "GET", `/api/computations/${comp.id}/kbs`)).body.resources.length).toBe(1);
    });

    test("the owner deletes the key: the agent then gets 404", async () => {
      expect((await call(alice, "DELETE", kbsPath())).status).toBe(204);
      expect(String(await agent(comp.manifestHash).getResource(con.url, "default/key/iris").catch((e: Error) => e))).toContain("404");
    });
  });
}
