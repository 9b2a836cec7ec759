// Versioned schema migrations, applied in order at start-up and recorded in schema_migrations.
// Written once for both databases; `{serial}` becomes each one's auto-increment primary key.
// Never edit a released migration: add the next one.
import type { Db, Dialect } from "./db.ts";

export const MIGRATIONS: { version: number; name: string; sql: string[] }[] = [
  {
    version: 1,
    name: "users, sessions, computations, participants, assets, managers, runs, events",
    sql: [
      `CREATE TABLE users (
        id {serial}, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
        is_admin INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL)`,
      `CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)`,
      `CREATE TABLE computations (
        id TEXT PRIMARY KEY, owner_id BIGINT NOT NULL REFERENCES users(id),
        name TEXT NOT NULL, description TEXT NOT NULL, signatures TEXT NOT NULL, attested_tls INTEGER NOT NULL,
        agent_port TEXT NOT NULL, log_level TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
      `CREATE TABLE participants (
        id {serial}, computation_id TEXT NOT NULL REFERENCES computations(id) ON DELETE CASCADE,
        user_id BIGINT NOT NULL REFERENCES users(id), role TEXT NOT NULL, public_key TEXT,
        created_at BIGINT NOT NULL, UNIQUE (computation_id, user_id))`,
      `CREATE TABLE assets (
        id {serial}, computation_id TEXT NOT NULL REFERENCES computations(id) ON DELETE CASCADE,
        kind TEXT NOT NULL, filename TEXT NOT NULL, sha3_256 TEXT NOT NULL,
        provider_id BIGINT NOT NULL REFERENCES participants(id) ON DELETE CASCADE, description TEXT NOT NULL,
        created_at BIGINT NOT NULL, UNIQUE (computation_id, filename))`,
      `CREATE TABLE managers (
        id TEXT PRIMARY KEY, token_hash TEXT NOT NULL, description TEXT NOT NULL, agent_host TEXT NOT NULL,
        host TEXT NOT NULL DEFAULT '', backend TEXT NOT NULL DEFAULT '', connected INTEGER NOT NULL DEFAULT 0,
        connected_at BIGINT, last_seen BIGINT, created_at BIGINT NOT NULL)`,
      `CREATE TABLE runs (
        id TEXT PRIMARY KEY, computation_id TEXT NOT NULL REFERENCES computations(id) ON DELETE CASCADE,
        manager_id TEXT NOT NULL REFERENCES managers(id), manifest_json TEXT NOT NULL, manifest_hash TEXT NOT NULL,
        state TEXT NOT NULL, agent_port TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', policy TEXT,
        started_by BIGINT NOT NULL REFERENCES users(id), created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
        ended_at BIGINT)`,
      `CREATE INDEX runs_by_manager ON runs (manager_id, state)`,
      `CREATE INDEX runs_by_computation ON runs (computation_id, created_at)`,
      `CREATE TABLE events (
        id {serial}, time BIGINT NOT NULL, received_at BIGINT NOT NULL, computation_id TEXT NOT NULL,
        run_id TEXT, manager_id TEXT NOT NULL, source TEXT NOT NULL, kind TEXT NOT NULL,
        event_type TEXT NOT NULL, status TEXT NOT NULL, level TEXT NOT NULL, details TEXT NOT NULL)`,
      `CREATE INDEX events_by_computation ON events (computation_id, id)`,
      `CREATE INDEX events_by_run ON events (run_id, id)`,
    ],
  },
  {
    version: 2,
    name: "kbs_resources: the key broker's secrets and their attestation policies",
    sql: [
      // computation_id is NULL in the standalone cocos-kbs; the path is global (the agent asks for it alone).
      `CREATE TABLE kbs_resources (
        path TEXT PRIMARY KEY, computation_id TEXT REFERENCES computations(id) ON DELETE CASCADE,
        secret TEXT NOT NULL, policy TEXT NOT NULL, updated_at BIGINT NOT NULL)`,
      `CREATE INDEX kbs_resources_by_computation ON kbs_resources (computation_id, path)`,
    ],
  },
  {
    version: 3,
    name: "assets: a remote source, sealed (encrypted) inputs and their key broker (Cocos v0.10 source/kbs)",
    // One column per statement: SQLite's ALTER TABLE adds one at a time. '' / 0 = an upload in the clear, as before.
    sql: [
      `ALTER TABLE assets ADD COLUMN source_url TEXT NOT NULL DEFAULT ''`,
      `ALTER TABLE assets ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0`,
      `ALTER TABLE assets ADD COLUMN kbs_resource_path TEXT NOT NULL DEFAULT ''`,
      // '' = the console's own key broker (CONSOLE_PUBLIC_URL), resolved when the manifest is built.
      `ALTER TABLE assets ADD COLUMN kbs_url TEXT NOT NULL DEFAULT ''`,
    ],
  },
  {
    version: 4,
    name: "assets: how the algorithm runs and its arguments (Cocos v0.9+ algo_type / algo_args)",
    // '' / '[]' = not in the manifest, as before (so existing manifests keep their hash); algo_args is a JSON array.
    sql: [
      `ALTER TABLE assets ADD COLUMN algo_type TEXT NOT NULL DEFAULT ''`,
      `ALTER TABLE assets ADD COLUMN algo_args TEXT NOT NULL DEFAULT '[]'`,
    ],
  },
];

function dialectSql(sql: string, d: Dialect): string {
  return sql.replaceAll("{serial}", d === "sqlite" ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY");
}

/** Applies the migrations the database has not seen; returns the versions applied now. */
export async function migrate(db: Db): Promise<number[]> {
  await db.run("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
  const done = new Set((await db.all<{ version: number }>("SELECT version FROM schema_migrations")).map((r) => Number(r.version)));
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    await db.tx(async (t) => {
      for (const s of m.sql) await t.run(dialectSql(s, db.dialect));
      await t.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", [m.version, m.name, Date.now()]);
    });
    applied.push(m.version);
  }
  return applied;
}
