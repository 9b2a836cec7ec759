// Where the KBS keeps resources (the secret bytes) and the attestation policy each one requires.
// A small interface, so the console can later serve the same KBS from its own database; the
// default is a bun:sqlite file.
import { Database } from "bun:sqlite";
import type { AttestationPolicy } from "../../attestation/policy.ts";

export interface StoredResource {
  /** "repository/type/tag" */
  path: string;
  secret: Uint8Array;
  /** Cocos attestation-policy JSON: measurement, host_data (manifest hash), minimum_tcb, root of trust / sim pin, tdx. */
  policy: AttestationPolicy;
  updatedAt: string;
}

export interface KbsStore {
  put(path: string, secret: Uint8Array, policy: AttestationPolicy): void;
  get(path: string): StoredResource | undefined;
  delete(path: string): boolean;
  list(): { path: string; updatedAt: string }[];
  close(): void;
}

export class SqliteKbsStore implements KbsStore {
  private db: Database;

  /** `file` ":memory:" for tests. */
  constructor(file: string) {
    this.db = new Database(file, { create: true, strict: true });
    this.db.run("PRAGMA journal_mode = WAL");
    this.db.run("CREATE TABLE IF NOT EXISTS resources (path TEXT PRIMARY KEY, secret BLOB NOT NULL, policy TEXT NOT NULL, updated_at TEXT NOT NULL)");
  }

  put(path: string, secret: Uint8Array, policy: AttestationPolicy): void {
    this.db
      .query("INSERT INTO resources (path, secret, policy, updated_at) VALUES ($path, $secret, $policy, $at) ON CONFLICT(path) DO UPDATE SET secret = excluded.secret, policy = excluded.policy, updated_at = excluded.updated_at")
      .run({ path, secret, policy: JSON.stringify(policy), at: new Date().toISOString() });
  }

  get(path: string): StoredResource | undefined {
    const row = this.db.query("SELECT path, secret, policy, updated_at FROM resources WHERE path = $path").get({ path }) as
      | { path: string; secret: Uint8Array; policy: string; updated_at: string }
      | null;
    return row ? { path: row.path, secret: new Uint8Array(row.secret), policy: JSON.parse(row.policy), updatedAt: row.updated_at } : undefined;
  }

  delete(path: string): boolean {
    return this.db.query("DELETE FROM resources WHERE path = $path").run({ path }).changes > 0;
  }

  list(): { path: string; updatedAt: string }[] {
    return (this.db.query("SELECT path, updated_at FROM resources ORDER BY path").all() as { path: string; updated_at: string }[]).map((r) => ({ path: r.path, updatedAt: r.updated_at }));
  }

  close(): void {
    this.db.close();
  }
}
