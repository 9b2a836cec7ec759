// One small SQL interface over the two databases the console runs on: bun:sqlite (embedded default)
// and PostgreSQL through Bun.SQL. Queries are written once with `?` placeholders and always take
// their values as parameters (never spliced into the text), so no field can inject SQL.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

export type Dialect = "sqlite" | "postgres";
export type Row = Record<string, unknown>;
export type Param = string | number | null;

export interface Db {
  readonly dialect: Dialect;
  all<T = Row>(sql: string, params?: Param[]): Promise<T[]>;
  /** Runs a statement; `changes` = rows affected. */
  run(sql: string, params?: Param[]): Promise<{ changes: number }>;
  /** Runs `fn` in one transaction (committed when it resolves, rolled back when it throws). */
  tx<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export class DbError extends Error {
  override name = "DbError";
  constructor(
    message: string,
    /** "unique" for a uniqueness violation, "foreign_key" for a missing reference. */
    readonly kind: "unique" | "foreign_key" | "other",
  ) {
    super(message);
  }
}

function classify(e: unknown): never {
  const msg = (e as Error).message ?? String(e);
  const code = String((e as { code?: unknown; errno?: unknown }).code ?? "");
  if (/UNIQUE constraint|duplicate key|23505/.test(msg + code)) throw new DbError(msg, "unique");
  if (/FOREIGN KEY constraint|foreign key|23503/.test(msg + code)) throw new DbError(msg, "foreign_key");
  throw e;
}

/** SQLite serves one connection: a transaction holds a lock that every other query waits for. */
class SqliteDb implements Db {
  readonly dialect = "sqlite" as const;
  private lock: Promise<void> = Promise.resolve();
  constructor(private readonly db: Database) {}

  private exec<T>(sql: string, params: Param[], all: boolean): T[] | { changes: number } {
    try {
      const st = this.db.query(sql);
      if (all) return st.all(...params) as T[];
      return { changes: st.run(...params).changes };
    } catch (e) {
      classify(e);
    }
  }

  async all<T = Row>(sql: string, params: Param[] = []): Promise<T[]> {
    await this.lock;
    return this.exec<T>(sql, params, true) as T[];
  }

  async run(sql: string, params: Param[] = []): Promise<{ changes: number }> {
    await this.lock;
    return this.exec(sql, params, false) as { changes: number };
  }

  async tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    let release!: () => void;
    const prev = this.lock;
    this.lock = new Promise<void>((r) => (release = r));
    await prev;
    const inner: Db = {
      dialect: "sqlite",
      all: async <R>(sql: string, params: Param[] = []) => this.exec<R>(sql, params, true) as R[],
      run: async (sql: string, params: Param[] = []) => this.exec(sql, params, false) as { changes: number },
      tx: (f) => f(inner),
      close: async () => {},
    };
    this.db.run("BEGIN IMMEDIATE");
    try {
      const out = await fn(inner);
      this.db.run("COMMIT");
      return out;
    } catch (e) {
      this.db.run("ROLLBACK");
      throw e;
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    await this.lock;
    this.db.close();
  }
}

/** `?` → `$1, $2, …` (our SQL has no `?` inside string literals). */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

type BunSql = InstanceType<typeof Bun.SQL>;

class PostgresDb implements Db {
  readonly dialect = "postgres" as const;
  constructor(private readonly sql: BunSql, private readonly owned = true) {}

  async all<T = Row>(sql: string, params: Param[] = []): Promise<T[]> {
    try {
      return [...((await this.sql.unsafe(numberPlaceholders(sql), params)) as T[])];
    } catch (e) {
      classify(e);
    }
  }

  async run(sql: string, params: Param[] = []): Promise<{ changes: number }> {
    try {
      const r = (await this.sql.unsafe(numberPlaceholders(sql), params)) as { count?: number | null };
      return { changes: Number(r.count ?? 0) };
    } catch (e) {
      classify(e);
    }
  }

  async tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    return (await this.sql.begin(async (t) => fn(new PostgresDb(t as unknown as BunSql, false)))) as T;
  }

  async close(): Promise<void> {
    if (this.owned) await this.sql.close({ timeout: 1 });
  }
}

/** `sqlite:PATH` (or `sqlite::memory:`) or `postgres://…` / `postgresql://…`. */
export async function openDb(url: string): Promise<Db> {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    if (!path) throw new Error(`CONSOLE_DB: expected sqlite:PATH, got ${JSON.stringify(url)}`);
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path, { create: true, strict: true });
    db.run("PRAGMA journal_mode = WAL");
    // NORMAL in WAL mode: a committed transaction survives a crash of the process (not of the OS).
    db.run("PRAGMA synchronous = NORMAL");
    db.run("PRAGMA foreign_keys = ON");
    db.run("PRAGMA busy_timeout = 5000");
    return new SqliteDb(db);
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const sql = new Bun.SQL(url, { max: 20, idleTimeout: 30 });
    await sql.unsafe("select 1");
    return new PostgresDb(sql);
  }
  throw new Error(`CONSOLE_DB: expected sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB, got ${JSON.stringify(url.replace(/:[^:@/]*@/, ":***@"))}`);
}
