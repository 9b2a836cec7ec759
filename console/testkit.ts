// Test helpers: a store on each database the console supports. PostgreSQL comes from
// COCOS_TEST_POSTGRES_URL (set by scripts/test-all.sh); each store gets a fresh database, dropped after.
import { openDb } from "./db.ts";
import { Store } from "./store.ts";

export const POSTGRES_URL = process.env.COCOS_TEST_POSTGRES_URL ?? "";

export interface TestDb {
  name: "sqlite" | "postgres";
  /** A database URL for CONSOLE_DB, fresh for each call. */
  url(): Promise<string>;
  cleanup(): Promise<void>;
}

export function testDatabases(tmpDir: () => string): TestDb[] {
  const made: string[] = [];
  const out: TestDb[] = [
    { name: "sqlite", url: async () => `sqlite:${tmpDir()}/console-${crypto.randomUUID()}.db`, cleanup: async () => {} },
  ];
  if (POSTGRES_URL) {
    out.push({
      name: "postgres",
      url: async () => {
        const name = `cocos_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
        const admin = new Bun.SQL(POSTGRES_URL);
        await admin.unsafe(`CREATE DATABASE ${name}`);
        await admin.close();
        made.push(name);
        const u = new URL(POSTGRES_URL);
        u.pathname = `/${name}`;
        return u.toString();
      },
      cleanup: async () => {
        const admin = new Bun.SQL(POSTGRES_URL);
        await Promise.all(made.splice(0).map((n) => admin.unsafe(`DROP DATABASE IF EXISTS ${n} WITH (FORCE)`).catch(() => {})));
        await admin.close();
      },
    });
  } else {
    console.warn("[console tests] COCOS_TEST_POSTGRES_URL is not set: the PostgreSQL store tests are SKIPPED (scripts/test-all.sh starts a server and sets it)");
  }
  return out;
}

export async function openStore(url: string): Promise<Store> {
  return Store.open(await openDb(url));
}
