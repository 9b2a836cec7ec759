// Where the KBS keeps resources (the secret bytes) and the attestation policy each one requires: the
// console's database (console/db.ts, SQLite or PostgreSQL, table kbs_resources of migration 2), so
// the console and the standalone cocos-kbs (a SQLite file of its own) run the same code. A resource
// the console stores belongs to one computation; the standalone broker's belong to none.
import type { AttestationPolicy } from "../../attestation/policy.ts";
import { openDb, type Db, type Row } from "../db.ts";
import { migrate } from "../migrations.ts";

export interface StoredResource {
  /** "repository/type/tag" */
  path: string;
  secret: Uint8Array;
  /** Cocos attestation-policy JSON: measurement, host_data (manifest hash), minimum_tcb, root of trust / sim pin, tdx. */
  policy: AttestationPolicy;
  /** The console computation the resource belongs to; null in the standalone broker. */
  computationId: string | null;
  updatedAt: number;
}

export type ResourceInfo = Omit<StoredResource, "secret">;

export interface KbsStore {
  /**
   * Stores (or replaces) `path`. Refused with a KbsPathTaken when the path already belongs to
   * another computation (one broker serves every computation: a path names one secret).
   */
  put(path: string, secret: Uint8Array, policy: AttestationPolicy, computationId?: string | null): Promise<void>;
  get(path: string): Promise<StoredResource | undefined>;
  /** Deletes `path` (only when it belongs to `computationId`, when given). */
  delete(path: string, computationId?: string | null): Promise<boolean>;
  /** Every resource (of one computation, when given), without secrets, by path. */
  list(computationId?: string | null): Promise<ResourceInfo[]>;
  close(): Promise<void>;
}

export class KbsPathTaken extends Error {
  constructor(readonly path: string) {
    super(`resource ${path} already belongs to another computation: choose another repository/type/tag`);
  }
}

const info = (r: Row): ResourceInfo => ({
  path: String(r.path),
  policy: JSON.parse(String(r.policy)) as AttestationPolicy,
  computationId: r.computation_id === null || r.computation_id === undefined ? null : String(r.computation_id),
  updatedAt: Number(r.updated_at),
});

export class DbKbsStore implements KbsStore {
  /** `owned`: close() closes the database too (the standalone broker's own file). */
  constructor(private readonly db: Db, private readonly owned = false) {}

  async put(path: string, secret: Uint8Array, policy: AttestationPolicy, computationId: string | null = null): Promise<void> {
    await this.db.tx(async (t) => {
      const cur = await t.all("SELECT computation_id FROM kbs_resources WHERE path = ?", [path]);
      if (cur[0] && (cur[0].computation_id ?? null) !== computationId) throw new KbsPathTaken(path);
      // Base64 text: one column type on both databases (Param has no bytes).
      const values = [Buffer.from(secret).toString("base64"), JSON.stringify(policy), Date.now()];
      if (cur[0]) await t.run("UPDATE kbs_resources SET secret = ?, policy = ?, updated_at = ? WHERE path = ?", [...values, path]);
      else await t.run("INSERT INTO kbs_resources (path, computation_id, secret, policy, updated_at) VALUES (?, ?, ?, ?, ?)", [path, computationId, ...values]);
    });
  }

  async get(path: string): Promise<StoredResource | undefined> {
    const r = (await this.db.all("SELECT * FROM kbs_resources WHERE path = ?", [path]))[0];
    return r ? { ...info(r), secret: new Uint8Array(Buffer.from(String(r.secret), "base64")) } : undefined;
  }

  async delete(path: string, computationId?: string | null): Promise<boolean> {
    if (computationId === undefined) return (await this.db.run("DELETE FROM kbs_resources WHERE path = ?", [path])).changes > 0;
    return (await this.db.run("DELETE FROM kbs_resources WHERE path = ? AND computation_id = ?", [path, computationId])).changes > 0;
  }

  async list(computationId?: string | null): Promise<ResourceInfo[]> {
    const cols = "SELECT path, computation_id, policy, updated_at FROM kbs_resources";
    const rows = computationId === undefined || computationId === null
      ? await this.db.all(`${cols} ORDER BY path`)
      : await this.db.all(`${cols} WHERE computation_id = ? ORDER BY path`, [computationId]);
    return rows.map(info);
  }

  async close(): Promise<void> {
    if (this.owned) await this.db.close();
  }
}

/** The standalone broker's store: a database URL (`sqlite:FILE`, `sqlite::memory:`, `postgres://…`), migrated. */
export async function openKbsStore(url: string): Promise<DbKbsStore> {
  const db = await openDb(url);
  await migrate(db);
  return new DbKbsStore(db, true);
}
