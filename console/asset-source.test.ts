// An asset's remote source and sealing (Cocos v0.10 `source` / `kbs`), and the algorithm's
// `algo_type` / `algo_args` (Cocos v0.9+), through the API, on SQLite and on
// PostgreSQL (when COCOS_TEST_POSTGRES_URL is set): validated, stored, edited, exported and imported,
// and carried into the manifest preview as protocol/manifest.ts encodes it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPair } from "../protocol/keys.ts";
import { manifestHash, parseManifest } from "../protocol/manifest.ts";
import { startConsole, type RunningConsole } from "./app.ts";
import { bearerCall, registerUser, testDatabasesInTmp } from "./testkit.ts";

const dbs = testDatabasesInTmp("console-source-");

const PUBLIC_URL = "https://console.example:7443";
let con: RunningConsole;

const call = (token: string, method: string, path: string, body?: unknown) => bearerCall(con.url, token, method, path, body);
const register = (name: string) => registerUser(con.url, name);

for (const d of dbs) {
  describe(`asset sources on ${d.name}`, () => {
    let alice = "", bob = "", eve = "";
    let id = "";
    const assets = async () => (await call(alice, "GET", `/api/computations/${id}`)).body.assets as any[];
    const manifest = async () => (await call(alice, "GET", `/api/computations/${id}/manifest`)).body as { json: string; sha3_256: string };
    const dataset = async () => (await assets()).find((a) => a.kind === "dataset");

    beforeAll(async () => {
      con = await startConsole({ CONSOLE_DB: await d.url(), CONSOLE_HTTP_PORT: "0", CONSOLE_GRPC_PORT: "0", CONSOLE_PUBLIC_URL: `${PUBLIC_URL}/` }, { quiet: true });
      alice = await register("alice");
      bob = await register("bob");
      eve = await register("eve");
      id = (await call(alice, "POST", "/api/computations", { name: "sealed" })).body.computation.id;
      for (const [name, token, role] of [["bob", bob, "algorithm_provider"], ["alice", alice, "data_provider"], ["eve", eve, "result_consumer"]] as const) {
        const pid = (await call(alice, "POST", `/api/computations/${id}/participants`, { username: name, role })).body.participant.id;
        expect((await call(token, "PUT", `/api/computations/${id}/participants/${pid}/key`, { public_key: generateKeyPair("ed25519").publicPem })).status).toBe(200);
      }
      expect((await call(bob, "POST", `/api/computations/${id}/assets`, { kind: "algorithm", filename: "a.wasm", sha3_256: "a".repeat(64), source_url: "oci://registry.example/algo@sha256:" + "c".repeat(64) })).status).toBe(201);
    }, 30_000);
    afterAll(() => con.stop());

    test("bad input → 400 naming what was expected: URL scheme, credentials, kbs path, encrypted without a path, a path without encrypted", async () => {
      const post = (extra: Record<string, unknown>) => call(alice, "POST", `/api/computations/${id}/assets`, { kind: "dataset", filename: "bad.csv", sha3_256: "b".repeat(64), ...extra });
      const cases: [Record<string, unknown>, string][] = [
        [{ source_url: "ftp://host/x" }, "source_url: expected an https://, http:// or oci:// URL"],
        [{ source_url: "file:///etc/passwd" }, "source_url: expected an https://, http:// or oci:// URL"],
        [{ source_url: "https://user:pw@host/x" }, "must not carry credentials"],
        [{ encrypted: true }, 'kbs_resource_path: an encrypted asset needs the KBS resource of its key, expected "repository/type/tag"'],
        [{ encrypted: true, kbs_resource_path: "default/key" }, 'expected "repository/type/tag"'],
        [{ encrypted: true, kbs_resource_path: "default/../iris" }, 'expected "repository/type/tag"'],
        [{ encrypted: true, kbs_resource_path: "a/b/c", kbs_url: "oci://x/y" }, "kbs_url: expected the key broker's https:// or http:// base URL"],
        [{ encrypted: "yes", kbs_resource_path: "a/b/c" }, "encrypted: expected true or false"],
        [{ kbs_resource_path: "a/b/c" }, "expected none for an asset that is not encrypted"],
      ];
      for (const [extra, message] of cases) {
        const r = await post(extra);
        expect(r.status).toBe(400);
        expect(r.body.error.message).toContain(message);
      }
      expect((await assets()).some((a) => a.filename === "bad.csv")).toBe(false);
    });

    test("an encrypted dataset: stored, and its manifest carries source and kbs with the console's own KBS by default", async () => {
      const r = await call(alice, "POST", `/api/computations/${id}/assets`, { kind: "dataset", filename: "d.enc", sha3_256: "b".repeat(64), encrypted: true, kbs_resource_path: "default/key/iris" });
      expect(r.status).toBe(201);
      expect(r.body.asset).toMatchObject({ encrypted: true, kbs_resource_path: "default/key/iris", source_url: "", kbs_url: "" });
      const m = await manifest();
      const json = JSON.parse(m.json);
      expect(json.datasets[0].source).toEqual({ kbs_resource_path: "default/key/iris", encrypted: true });
      expect(json.datasets[0].kbs).toEqual({ url: PUBLIC_URL, enabled: true });
      // Go's field order, as protocol/manifest.ts writes it; the hash is the agent's (and cocos-cli checksum --manifest's).
      expect(m.json).toContain(`"filename":"d.enc","source":{"kbs_resource_path":"default/key/iris","encrypted":true},"kbs":{"url":"${PUBLIC_URL}","enabled":true}`);
      expect(json.algorithm.source).toEqual({ url: "oci://registry.example/algo@sha256:" + "c".repeat(64) });
      expect(json.algorithm.kbs).toBeUndefined();
      // The agent fetches a remote algorithm itself: its provider is given no upload command.
      expect((await call(bob, "GET", `/api/computations/${id}`)).body.cli.algorithm_provider).toEqual([]);
      expect(Buffer.from(manifestHash(parseManifest(m.json))).toString("hex")).toBe(m.sha3_256);
    });

    test("the source is bound by the manifest hash: another KBS URL or source is another manifest", async () => {
      const ds = await dataset();
      const before = (await manifest()).sha3_256;
      const put = (body: unknown, token = alice) => call(token, "PUT", `/api/computations/${id}/assets/${ds.id}/source`, body);
      expect((await put({ encrypted: true, kbs_resource_path: "default/key/iris", kbs_url: "https://kbs.example", source_url: "https://data.example/iris.enc" })).status).toBe(200);
      const after = await manifest();
      expect(after.sha3_256).not.toBe(before);
      expect(JSON.parse(after.json).datasets[0]).toMatchObject({ source: { url: "https://data.example/iris.enc", kbs_resource_path: "default/key/iris", encrypted: true }, kbs: { url: "https://kbs.example", enabled: true } });
      // Bad input on edit is refused and changes nothing.
      expect((await put({ encrypted: true, kbs_resource_path: "x" })).status).toBe(400);
      expect((await dataset()).kbs_url).toBe("https://kbs.example");
      // Only the owner or the asset's provider edits it: the algorithm provider may not.
      expect((await put({}, bob)).status).toBe(403);
      expect((await put({ encrypted: true, kbs_resource_path: "default/key/iris" })).status).toBe(200);
      expect((await manifest()).sha3_256).toBe(before);
    });

    test("while a run is active its source cannot change (409): the running enclave's manifest is fixed", async () => {
      const ds = await dataset();
      await con.store.createManager({ id: "m-src", token_hash: "x", description: "", agent_host: "" });
      const m = await manifest();
      const owner = (await call(alice, "GET", "/api/me")).body.user.id;
      await con.store.createRun({ id: "r-src", computation_id: id, manager_id: "m-src", manifest_json: m.json, manifest_hash: m.sha3_256, state: "running", started_by: owner, created_at: Date.now() });
      try {
        const r = await call(alice, "PUT", `/api/computations/${id}/assets/${ds.id}/source`, { source_url: "https://elsewhere.example/x" });
        expect(r.status).toBe(409);
        expect((await dataset()).source_url).toBe("");
      } finally {
        await con.store.updateRun("r-src", { state: "completed", ended_at: Date.now() });
      }
    });

    test("an upload through the console names one plain file (400 otherwise, before any agent is dialled)", async () => {
      const m = await manifest();
      const owner = (await call(alice, "GET", "/api/me")).body.user.id;
      await con.store.createManager({ id: "m-fn", token_hash: "x", description: "", agent_host: "" });
      await con.store.createRun({ id: "r-fn", computation_id: id, manager_id: "m-fn", manifest_json: m.json, manifest_hash: m.sha3_256, state: "running", started_by: owner, created_at: Date.now() });
      try {
        for (const [name, why] of [["..", "is a directory reference"], ["a/b.csv", "contains a path separator"], ["", "empty filename"]]) {
          const r = await fetch(`${con.url}/api/runs/r-fn/uploads/dataset?filename=${encodeURIComponent(name!)}`, { method: "POST", headers: { authorization: `Bearer ${alice}`, "content-type": "application/octet-stream" }, body: "x" });
          expect(r.status).toBe(400);
          expect(await r.text()).toContain(why!);
        }
      } finally {
        await con.store.updateRun("r-fn", { state: "completed", ended_at: Date.now() });
      }
    });

    test("export and import carry the source; an import with a bad one is refused", async () => {
      const doc = (await call(alice, "GET", `/api/computations/${id}/export`)).body;
      expect(doc.assets.find((a: any) => a.kind === "dataset")).toMatchObject({ encrypted: true, kbs_resource_path: "default/key/iris", kbs_url: "", source_url: "" });
      const created = (await call(alice, "POST", "/api/computations/import", doc)).body.computation;
      const imported = (await call(alice, "GET", `/api/computations/${created.id}`)).body.assets as any[];
      expect(imported.map((a) => [a.filename, a.source_url, a.encrypted, a.kbs_resource_path])).toEqual((await assets()).map((a) => [a.filename, a.source_url, a.encrypted, a.kbs_resource_path]));
      doc.assets[1].kbs_resource_path = "only/two";
      const bad = await call(alice, "POST", "/api/computations/import", doc);
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toContain("assets[1].kbs_resource_path");
    });

    // ── how the algorithm runs (algo_type / algo_args): the manager boots the image its type needs ──
    const algorithm = async () => (await assets()).find((a) => a.kind === "algorithm");
    const putAlgo = async (body: unknown, token = bob) => call(token, "PUT", `/api/computations/${id}/assets/${(await algorithm()).id}/algo`, body);

    test("algo_type / algo_args: bad input → 400 naming what was expected; a dataset has neither", async () => {
      const cases: [unknown, string][] = [
        [{ algo_type: "java" }, "algo_type: expected one of wasm, bin, python, docker (or none)"],
        [{ algo_type: 7 }, "algo_type: expected one of wasm, bin, python, docker (or none)"],
        [{ algo_args: "--epochs 3" }, "algo_args: expected an array of at most 64 strings"],
        [{ algo_args: Array(65).fill("x") }, "algo_args: expected an array of at most 64 strings"],
        [{ algo_args: ["ok", 3] }, "algo_args[1]: expected a string of at most 4096 characters without NUL"],
        [{ algo_args: ["x".repeat(4097)] }, "algo_args[0]: expected a string of at most 4096 characters"],
        [{ algo_args: ["a\0b"] }, "without NUL"],
      ];
      for (const [body, message] of cases) {
        const r = await putAlgo(body);
        expect(r.status).toBe(400);
        expect(r.body.error.message).toContain(message);
      }
      expect(await algorithm()).toMatchObject({ algo_type: "", algo_args: [] });
      const ds = await dataset();
      const onDataset = await call(alice, "PUT", `/api/computations/${id}/assets/${ds.id}/algo`, { algo_type: "python" });
      expect(onDataset.status).toBe(400);
      expect(onDataset.body.error.message).toContain("expected none for a dataset");
      const registered = await call(alice, "POST", `/api/computations/${id}/assets`, { kind: "dataset", filename: "typed.csv", sha3_256: "d".repeat(64), algo_args: ["x"] });
      expect(registered.status).toBe(400);
      expect(registered.body.error.message).toContain("expected none for a dataset");
    });

    test("without algo_type the manifest keeps its bytes; with it, algorithm.algo_type / algo_args are bound by the hash", async () => {
      const before = await manifest();
      expect(before.json).not.toContain("algo_");
      const r = await putAlgo({ algo_type: "python", algo_args: ["--epochs", "3"] });
      expect(r.status).toBe(200);
      expect(r.body.asset).toMatchObject({ algo_type: "python", algo_args: ["--epochs", "3"] });
      const typed = await manifest();
      // Go's field order (source, algo_type, algo_args, kbs), as protocol/manifest.ts writes it.
      expect(typed.json).toContain(`"source":{"url":"oci://registry.example/algo@sha256:${"c".repeat(64)}"},"algo_type":"python","algo_args":["--epochs","3"]}`);
      expect(typed.sha3_256).not.toBe(before.sha3_256);
      const parsed = parseManifest(typed.json);
      expect([parsed.algorithm.algo_type, parsed.algorithm.algo_args]).toEqual(["python", ["--epochs", "3"]]);
      expect(Buffer.from(manifestHash(parsed)).toString("hex")).toBe(typed.sha3_256);
      // Cleared again: the very bytes (and hash) of before.
      expect((await putAlgo({})).status).toBe(200);
      expect(await manifest()).toEqual(before);
    });

    test("only the owner or the algorithm's provider sets how it runs, and not while a run is active (409)", async () => {
      expect((await putAlgo({ algo_type: "docker" }, eve)).status).toBe(403);
      expect((await algorithm()).algo_type).toBe("");
      expect((await putAlgo({ algo_type: "bin" }, alice)).status).toBe(200);
      expect((await putAlgo({ algo_type: "wasm" })).status).toBe(200);
      const m = await manifest();
      const owner = (await call(alice, "GET", "/api/me")).body.user.id;
      await con.store.createManager({ id: "m-algo", token_hash: "x", description: "", agent_host: "" });
      await con.store.createRun({ id: "r-algo", computation_id: id, manager_id: "m-algo", manifest_json: m.json, manifest_hash: m.sha3_256, state: "running", started_by: owner, created_at: Date.now() });
      try {
        expect((await putAlgo({ algo_type: "docker" }, alice)).status).toBe(409);
        expect((await algorithm()).algo_type).toBe("wasm");
      } finally {
        await con.store.updateRun("r-algo", { state: "completed", ended_at: Date.now() });
      }
    });

    test("registered with a type and arguments: stored, and the provider's CLI command carries -a and --args (quoted)", async () => {
      expect((await call(bob, "DELETE", `/api/computations/${id}/assets/${(await algorithm()).id}`)).status).toBe(204);
      const r = await call(bob, "POST", `/api/computations/${id}/assets`, { kind: "algorithm", filename: "train.py", sha3_256: "e".repeat(64), algo_type: "docker", algo_args: ["it's", "a=b"] });
      expect(r.status).toBe(201);
      expect(r.body.asset).toMatchObject({ algo_type: "docker", algo_args: ["it's", "a=b"] });
      const cli = async () => (await call(bob, "GET", `/api/computations/${id}`)).body.cli.algorithm_provider[0] as string;
      expect(await cli()).toEndWith(`cocos-cli algo train.py private.pem -a docker --args 'it'\\''s' --args a=b`);
      // No declared type: the file name's guess, as before.
      expect((await putAlgo({})).status).toBe(200);
      expect(await cli()).toEndWith("cocos-cli algo train.py private.pem -a python");
      expect((await putAlgo({ algo_type: "docker", algo_args: ["it's", "a=b"] })).status).toBe(200);
    });

    test("export and import carry algo_type and algo_args; an import with a bad one is refused", async () => {
      const doc = (await call(alice, "GET", `/api/computations/${id}/export`)).body;
      const i = doc.assets.findIndex((a: any) => a.kind === "algorithm");
      expect(doc.assets[i]).toMatchObject({ algo_type: "docker", algo_args: ["it's", "a=b"] });
      const created = (await call(alice, "POST", "/api/computations/import", doc)).body.computation;
      const imported = ((await call(alice, "GET", `/api/computations/${created.id}`)).body.assets as any[]).find((a) => a.kind === "algorithm");
      expect(imported).toMatchObject({ filename: "train.py", algo_type: "docker", algo_args: ["it's", "a=b"] });
      // An export from before algo_type existed imports as "not in the manifest".
      const old = structuredClone(doc);
      delete old.assets[i].algo_type;
      delete old.assets[i].algo_args;
      const plain = (await call(alice, "POST", "/api/computations/import", old)).body.computation;
      expect(((await call(alice, "GET", `/api/computations/${plain.id}`)).body.assets as any[]).find((a) => a.kind === "algorithm")).toMatchObject({ algo_type: "", algo_args: [] });
      doc.assets[i].algo_type = "java";
      const bad = await call(alice, "POST", "/api/computations/import", doc);
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toContain(`assets[${i}].algo_type: expected one of wasm, bin, python, docker`);
    });
  });
}

test("CONSOLE_PUBLIC_URL must be an http(s) base URL", async () => {
  const { loadConsoleConfig } = await import("./config.ts");
  expect(loadConsoleConfig({ CONSOLE_PUBLIC_URL: "https://c.example/prefix/" }).publicUrl).toBe("https://c.example/prefix");
  expect(loadConsoleConfig({}).publicUrl).toBe("");
  expect(() => loadConsoleConfig({ CONSOLE_PUBLIC_URL: "c.example:7010" })).toThrow("CONSOLE_PUBLIC_URL: expected an http:// or https:// base URL");
});
