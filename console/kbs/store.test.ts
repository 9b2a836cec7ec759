// The KBS store on SQLite and on PostgreSQL (when COCOS_TEST_POSTGRES_URL is set): the same code the
// console and the standalone cocos-kbs run.
import { describe, expect, test } from "bun:test";
import { openStore, testDatabasesInTmp } from "../testkit.ts";
import { DbKbsStore, KbsPathTaken, openKbsStore } from "./store.ts";

const dbs = testDatabasesInTmp("kbs-store-");

const POLICY = { policy: { measurement: "ES".repeat(32) } };
const SECRET = new Uint8Array(32).map((_, i) => i);

for (const d of dbs) {
  describe(`KBS store on ${d.name}`, () => {
    test("put, get (secret bytes round-trip), replace, list without secrets, delete", async () => {
      const s = await openKbsStore(await d.url());
      await s.put("default/key/a", SECRET, POLICY);
      const got = (await s.get("default/key/a"))!;
      expect(got.secret).toEqual(SECRET);
      expect(got.policy).toEqual(POLICY);
      expect(got.computationId).toBeNull();
      await s.put("default/key/a", new Uint8Array([1, 2, 3]), { policy: { measurement: "x" } });
      expect((await s.get("default/key/a"))!.secret).toEqual(new Uint8Array([1, 2, 3]));
      const list = await s.list();
      expect(list.map((r) => r.path)).toEqual(["default/key/a"]);
      expect("secret" in list[0]!).toBe(false);
      expect(await s.delete("default/key/a")).toBe(true);
      expect(await s.delete("default/key/a")).toBe(false);
      expect(await s.get("default/key/a")).toBeUndefined();
      await s.close();
    });

    test("a path belongs to one computation: another's put is refused, its delete does nothing; deleting the computation deletes its resources", async () => {
      const console = await openStore(await d.url());
      const owner = await console.createUser("owner", "x");
      const now = Date.now();
      const mk = (id: string) => console.createComputation({ id, owner_id: owner.id, name: id, description: "", signatures: "v2-only", attested_tls: true, agent_port: "7002", log_level: "info", created_at: now, updated_at: now });
      await mk("ca");
      await mk("cb");
      const s = new DbKbsStore(console.db);
      await s.put("default/key/k", SECRET, POLICY, "ca");
      await expect(s.put("default/key/k", new Uint8Array(32), POLICY, "cb")).rejects.toBeInstanceOf(KbsPathTaken);
      await expect(s.put("default/key/k", new Uint8Array(32), POLICY)).rejects.toBeInstanceOf(KbsPathTaken);
      expect(await s.delete("default/key/k", "cb")).toBe(false);
      expect((await s.get("default/key/k"))!.secret).toEqual(SECRET);
      expect((await s.list("cb")).length).toBe(0);
      expect((await s.list("ca")).map((r) => r.computationId)).toEqual(["ca"]);
      await console.deleteComputation("ca");
      expect(await s.get("default/key/k")).toBeUndefined();
      await console.close();
    });
  });
}
