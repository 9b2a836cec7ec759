// The same store tests on SQLite and on PostgreSQL (when COCOS_TEST_POSTGRES_URL is set).
import { describe, expect, test } from "bun:test";
import { DbError, numberPlaceholders, openDb } from "./db.ts";
import { MIGRATIONS } from "./migrations.ts";
import { Store, type NewEvent } from "./store.ts";
import { openStore, testDatabasesInTmp } from "./testkit.ts";

const dbs = testDatabasesInTmp("console-store-");

const ev = (i: number, over: Partial<NewEvent> = {}): NewEvent => ({
  time: 1000 + i, received_at: 1000 + i, computation_id: "c1", run_id: "r1", manager_id: "m1", source: i % 2 ? "agent" : "manager",
  kind: "event", event_type: "Running", status: i % 3 ? "InProgress" : "Completed", level: "", details: `event ${i}`, ...over,
});

async function seed(s: Store) {
  const owner = await s.createUser("owner", "h1");
  const other = await s.createUser("other", "h2");
  const now = Date.now();
  const c = await s.createComputation({ id: "c1", owner_id: owner.id, name: "iris", description: "d", signatures: "v2-only", attested_tls: true, agent_port: "7002", log_level: "info", created_at: now, updated_at: now });
  return { owner, other, c };
}

for (const d of dbs) {
  describe(`store on ${d.name}`, () => {
    test("migrations apply once and are recorded; reopening applies nothing", async () => {
      const url = await d.url();
      const s = await openStore(url);
      const v = await s.db.all<{ version: unknown }>("SELECT version FROM schema_migrations ORDER BY version");
      expect(v.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
      await s.close();
      const again = await openStore(url);
      expect((await again.db.all("SELECT * FROM schema_migrations")).length).toBe(MIGRATIONS.length);
      await again.close();
    });

    test("the first user is the admin, later ones are not; usernames are unique", async () => {
      const s = await openStore(await d.url());
      const { owner, other } = await seed(s);
      expect(owner.is_admin).toBe(true);
      expect(other.is_admin).toBe(false);
      await expect(s.createUser("owner", "x")).rejects.toBeInstanceOf(DbError);
      await s.close();
    });

    test("visibility: owner and participants see a computation, others do not", async () => {
      const s = await openStore(await d.url());
      const { owner, other } = await seed(s);
      const third = await s.createUser("third", "h3");
      expect((await s.computationsVisibleTo(owner.id)).map((c) => c.id)).toEqual(["c1"]);
      expect(await s.computationsVisibleTo(other.id)).toEqual([]);
      await s.addParticipant("c1", other.id, "data_provider", null);
      expect((await s.computationsVisibleTo(other.id)).map((c) => c.id)).toEqual(["c1"]);
      expect(await s.computationsVisibleTo(third.id)).toEqual([]);
      // One role per user per computation.
      await expect(s.addParticipant("c1", other.id, "result_consumer", null)).rejects.toMatchObject({ kind: "unique" });
      await s.close();
    });

    test("asset file names are unique within a computation; foreign keys hold", async () => {
      const s = await openStore(await d.url());
      const { owner } = await seed(s);
      const p = await s.addParticipant("c1", owner.id, "data_provider", null);
      await s.addAsset({ computation_id: "c1", kind: "dataset", filename: "iris.csv", sha3_256: "a".repeat(64), provider_id: p.id, description: "" });
      await expect(s.addAsset({ computation_id: "c1", kind: "dataset", filename: "iris.csv", sha3_256: "b".repeat(64), provider_id: p.id, description: "" })).rejects.toMatchObject({ kind: "unique" });
      await expect(s.addAsset({ computation_id: "nope", kind: "dataset", filename: "x", sha3_256: "b".repeat(64), provider_id: p.id, description: "" })).rejects.toMatchObject({ kind: "foreign_key" });
      await s.close();
    });

    test("text fields are stored as data: SQL in a name is just a name", async () => {
      const s = await openStore(await d.url());
      const { owner } = await seed(s);
      const evil = "x'); DROP TABLE computations; --";
      const now = Date.now();
      await s.createComputation({ id: "c2", owner_id: owner.id, name: evil, description: "' OR 1=1 --", signatures: "v2-only", attested_tls: true, agent_port: "7002", log_level: "info", created_at: now, updated_at: now });
      expect((await s.computation("c2"))!.name).toBe(evil);
      expect(await s.userByName("' OR '1'='1")).toBeNull();
      expect((await s.computationsVisibleTo(owner.id)).length).toBe(2);
      await s.close();
    });

    test("runs: the active one is found per manager and computation; state updates stick", async () => {
      const s = await openStore(await d.url());
      const { owner } = await seed(s);
      await s.createManager({ id: "m1", token_hash: "t", description: "", agent_host: "" });
      const r = await s.createRun({ id: "r1", computation_id: "c1", manager_id: "m1", manifest_json: "{}", manifest_hash: "h", state: "starting", started_by: owner.id, created_at: Date.now() });
      expect((await s.activeRun("m1", "c1"))!.id).toBe(r.id);
      await s.updateRun("r1", { state: "completed", ended_at: 5 });
      expect(await s.activeRun("m1", "c1")).toBeNull();
      expect((await s.runById("r1"))!).toMatchObject({ state: "completed", ended_at: 5 });
      // A manager with runs on record cannot be deleted.
      expect(await s.deleteManager("m1")).toBe(false);
      await s.close();
    });

    test("timeline: batch insert keeps order; filters and pagination", async () => {
      const s = await openStore(await d.url());
      const stored = await s.addEvents(Array.from({ length: 30 }, (_, i) => ev(i)));
      expect(stored.map((e) => e.details)).toEqual(Array.from({ length: 30 }, (_, i) => `event ${i}`));
      const page1 = await s.events({ computation_id: "c1", limit: 10 });
      const page2 = await s.events({ computation_id: "c1", after: page1.at(-1)!.id, limit: 10 });
      expect(page1.length).toBe(10);
      expect(page2[0]!.details).toBe("event 10");
      expect((await s.events({ computation_id: "c1", source: "agent", limit: 100 })).every((e) => e.source === "agent")).toBe(true);
      expect((await s.events({ computation_id: "c1", status: "Completed", limit: 100 })).length).toBe(10);
      expect((await s.events({ computation_id: "c1", from: 1005, to: 1009, limit: 100 })).map((e) => e.time)).toEqual([1005, 1006, 1007, 1008, 1009]);
      expect(await s.events({ computation_id: "c1", run_id: "other", limit: 100 })).toEqual([]);
      await s.close();
    });

    test("a transaction that throws leaves nothing behind", async () => {
      const s = await openStore(await d.url());
      await expect(
        s.db.tx(async (t) => {
          await t.run("INSERT INTO users (username, password_hash, is_admin, created_at) VALUES (?, ?, 0, 1)", ["ghost", "h"]);
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      expect(await s.userByName("ghost")).toBeNull();
      await s.close();
    });
  });
}

test("placeholders are numbered for PostgreSQL", () => {
  expect(numberPlaceholders("a = ? AND b IN (?, ?)")).toBe("a = $1 AND b IN ($2, $3)");
});

test("an unknown database URL is refused with what was expected", async () => {
  await expect(openDb("mysql://x")).rejects.toThrow("expected sqlite:PATH or postgres://");
});
