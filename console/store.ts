// The console's persistent state: one Store over either database (db.ts). Every method is one
// parameterized statement (or one transaction); rows are mapped to plain typed objects here so the
// API never sees a dialect's quirks (PostgreSQL BIGINTs arrive as strings, SQLite's as numbers).
import type { Db, Param, Row } from "./db.ts";
import { migrate } from "./migrations.ts";

export type Role = "algorithm_provider" | "data_provider" | "result_consumer";
export const ROLES: readonly Role[] = ["algorithm_provider", "data_provider", "result_consumer"];
export type AssetKind = "algorithm" | "dataset";
export type RunState = "starting" | "running" | "results_ready" | "completed" | "failed" | "stopping" | "stopped";
export const ACTIVE_RUN_STATES: readonly RunState[] = ["starting", "running", "results_ready", "stopping"];

export interface User { id: number; username: string; password_hash: string; is_admin: boolean; created_at: number }
export interface Session { token_hash: string; user_id: number; kind: "cookie" | "bearer"; name: string; created_at: number; expires_at: number }
export interface Computation {
  id: string; owner_id: number; name: string; description: string; signatures: string; attested_tls: boolean;
  agent_port: string; log_level: string; created_at: number; updated_at: number;
}
export interface Participant { id: number; computation_id: string; user_id: number; username: string; role: Role; public_key: string | null; created_at: number }
/** Where the agent gets an asset and whether it is sealed (Cocos v0.10 `source` / `kbs`); all unset = a clear upload. */
export interface AssetSource {
  /** http(s):// or oci:// — the agent fetches it itself; '' = the provider uploads it. */
  source_url: string;
  /** The bytes are AES-256-GCM ciphertext whose key the KBS releases at `kbs_resource_path` ("repo/type/tag"). */
  encrypted: boolean;
  kbs_resource_path: string;
  /** The key broker's base URL; '' = the console's own (its /kbs/v0). */
  kbs_url: string;
}
export const CLEAR_SOURCE: AssetSource = { source_url: "", encrypted: false, kbs_resource_path: "", kbs_url: "" };
export const ALGO_TYPES = ["wasm", "bin", "python", "docker"] as const;
export type AlgoType = (typeof ALGO_TYPES)[number];
/** How the algorithm runs (Cocos v0.9+ `algo_type` / `algo_args`); '' and [] = left out of the manifest. A dataset has neither. */
export interface AlgoRun { algo_type: AlgoType | ""; algo_args: string[] }
export const NO_ALGO_RUN: AlgoRun = { algo_type: "", algo_args: [] };
export interface Asset extends AssetSource, AlgoRun { id: number; computation_id: string; kind: AssetKind; filename: string; sha3_256: string; provider_id: number; description: string; created_at: number }
export type NewAsset = Omit<Asset, "id" | "created_at" | keyof AssetSource | keyof AlgoRun> & Partial<AssetSource & AlgoRun>;
export interface ManagerRecord {
  id: string; token_hash: string; description: string; agent_host: string; host: string; backend: string;
  connected: boolean; connected_at: number | null; last_seen: number | null; created_at: number;
}
export interface Run {
  id: string; computation_id: string; manager_id: string; manifest_json: string; manifest_hash: string; state: RunState;
  agent_port: string; error: string; policy: string | null; started_by: number; created_at: number; updated_at: number; ended_at: number | null;
}
export interface TimelineEvent {
  id: number; time: number; received_at: number; computation_id: string; run_id: string | null; manager_id: string;
  source: string; kind: "event" | "log"; event_type: string; status: string; level: string; details: string;
}
export type NewEvent = Omit<TimelineEvent, "id">;

export interface EventFilter {
  computation_id?: string; run_id?: string; source?: string; status?: string; kind?: string;
  from?: number; to?: number; after?: number; limit: number;
}

const n = (v: unknown): number => Number(v);
const nn = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const b = (v: unknown): boolean => Number(v) === 1 || v === true;

const user = (r: Row): User => ({ ...(r as unknown as User), id: n(r.id), is_admin: b(r.is_admin), created_at: n(r.created_at) });
const session = (r: Row): Session => ({ ...(r as unknown as Session), user_id: n(r.user_id), created_at: n(r.created_at), expires_at: n(r.expires_at) });
const computation = (r: Row): Computation => ({
  ...(r as unknown as Computation), owner_id: n(r.owner_id), attested_tls: b(r.attested_tls), created_at: n(r.created_at), updated_at: n(r.updated_at),
});
const participant = (r: Row): Participant => ({ ...(r as unknown as Participant), id: n(r.id), user_id: n(r.user_id), created_at: n(r.created_at) });
const asset = (r: Row): Asset => ({
  ...(r as unknown as Asset), id: n(r.id), provider_id: n(r.provider_id), encrypted: b(r.encrypted), algo_args: JSON.parse(String(r.algo_args ?? "[]")) as string[], created_at: n(r.created_at),
});
const manager = (r: Row): ManagerRecord => ({
  ...(r as unknown as ManagerRecord), connected: b(r.connected), connected_at: nn(r.connected_at), last_seen: nn(r.last_seen), created_at: n(r.created_at),
});
const run = (r: Row): Run => ({
  ...(r as unknown as Run), started_by: n(r.started_by), created_at: n(r.created_at), updated_at: n(r.updated_at), ended_at: nn(r.ended_at),
});
const event = (r: Row): TimelineEvent => ({ ...(r as unknown as TimelineEvent), id: n(r.id), time: n(r.time), received_at: n(r.received_at) });

const EVENT_COLUMNS = ["time", "received_at", "computation_id", "run_id", "manager_id", "source", "kind", "event_type", "status", "level", "details"] as const;
const PARTICIPANT_SELECT = "SELECT p.*, u.username FROM participants p JOIN users u ON u.id = p.user_id";

export class Store {
  private constructor(readonly db: Db) {}

  /** Opens the store on `db` and applies pending migrations. */
  static async open(db: Db): Promise<Store> {
    await migrate(db);
    return new Store(db);
  }

  close(): Promise<void> {
    return this.db.close();
  }

  private async one<T>(sql: string, params: Param[], map: (r: Row) => T): Promise<T | null> {
    const rows = await this.db.all(sql, params);
    return rows[0] ? map(rows[0]) : null;
  }

  // ---------------------------------------------------------------- users and sessions

  /** The first user becomes the admin (decided inside one transaction, so two racing registrations cannot both be). */
  createUser(username: string, passwordHash: string): Promise<User> {
    return this.db.tx(async (t) => {
      const count = n((await t.all<{ c: unknown }>("SELECT COUNT(*) AS c FROM users"))[0]!.c);
      const rows = await t.all("INSERT INTO users (username, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?) RETURNING *", [username, passwordHash, count === 0 ? 1 : 0, Date.now()]);
      return user(rows[0]!);
    });
  }
  userByName(username: string): Promise<User | null> {
    return this.one("SELECT * FROM users WHERE username = ?", [username], user);
  }
  userById(id: number): Promise<User | null> {
    return this.one("SELECT * FROM users WHERE id = ?", [id], user);
  }
  async createSession(s: Session): Promise<void> {
    await this.db.run("INSERT INTO sessions (token_hash, user_id, kind, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)", [s.token_hash, s.user_id, s.kind, s.name, s.created_at, s.expires_at]);
  }
  /** A session and its user in one query (every authenticated request asks). */
  async sessionUser(hash: string): Promise<{ session: Session; user: User } | null> {
    const rows = await this.db.all(
      `SELECT s.token_hash, s.user_id, s.kind, s.name, s.created_at AS s_created_at, s.expires_at, u.id, u.username, u.password_hash, u.is_admin, u.created_at
       FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`,
      [hash],
    );
    const r = rows[0];
    if (!r) return null;
    return { session: session({ ...r, created_at: r.s_created_at }), user: user(r) };
  }
  async deleteSession(hash: string): Promise<void> {
    await this.db.run("DELETE FROM sessions WHERE token_hash = ?", [hash]);
  }
  async deleteExpiredSessions(now = Date.now()): Promise<number> {
    return (await this.db.run("DELETE FROM sessions WHERE expires_at <= ?", [now])).changes;
  }

  // ---------------------------------------------------------------- computations

  async createComputation(c: Computation): Promise<Computation> {
    const rows = await this.db.all(
      "INSERT INTO computations (id, owner_id, name, description, signatures, attested_tls, agent_port, log_level, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
      [c.id, c.owner_id, c.name, c.description, c.signatures, c.attested_tls ? 1 : 0, c.agent_port, c.log_level, c.created_at, c.updated_at],
    );
    return computation(rows[0]!);
  }
  computation(id: string): Promise<Computation | null> {
    return this.one("SELECT * FROM computations WHERE id = ?", [id], computation);
  }
  async updateComputation(id: string, f: Pick<Computation, "name" | "description" | "signatures" | "attested_tls" | "agent_port" | "log_level">): Promise<Computation | null> {
    const rows = await this.db.all(
      "UPDATE computations SET name = ?, description = ?, signatures = ?, attested_tls = ?, agent_port = ?, log_level = ?, updated_at = ? WHERE id = ? RETURNING *",
      [f.name, f.description, f.signatures, f.attested_tls ? 1 : 0, f.agent_port, f.log_level, Date.now(), id],
    );
    return rows[0] ? computation(rows[0]) : null;
  }
  async deleteComputation(id: string): Promise<boolean> {
    return this.db.tx(async (t) => {
      await t.run("DELETE FROM events WHERE computation_id = ?", [id]);
      return (await t.run("DELETE FROM computations WHERE id = ?", [id])).changes > 0;
    });
  }
  /** The computations a user owns or takes part in, newest first, each with its latest run's state (null: never run). */
  async computationsVisibleTo(userId: number): Promise<(Computation & { latest_state: RunState | null })[]> {
    const rows = await this.db.all(
      `SELECT c.*, (SELECT r.state FROM runs r WHERE r.computation_id = c.id ORDER BY r.created_at DESC, r.id LIMIT 1) AS latest_state
       FROM computations c WHERE c.owner_id = ? OR c.id IN (SELECT computation_id FROM participants WHERE user_id = ?) ORDER BY c.created_at DESC, c.id`,
      [userId, userId],
    );
    return rows.map((r) => ({ ...computation(r), latest_state: (r.latest_state as RunState | null) ?? null }));
  }

  // ---------------------------------------------------------------- participants and assets

  async addParticipant(computationId: string, userId: number, role: Role, publicKey: string | null): Promise<Participant> {
    const rows = await this.db.all("INSERT INTO participants (computation_id, user_id, role, public_key, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id", [computationId, userId, role, publicKey, Date.now()]);
    return (await this.participant(computationId, n(rows[0]!.id)))!;
  }
  participant(computationId: string, id: number): Promise<Participant | null> {
    return this.one(`${PARTICIPANT_SELECT} WHERE p.computation_id = ? AND p.id = ?`, [computationId, id], participant);
  }
  async participants(computationId: string): Promise<Participant[]> {
    return (await this.db.all(`${PARTICIPANT_SELECT} WHERE p.computation_id = ? ORDER BY p.id`, [computationId])).map(participant);
  }
  async setParticipantKey(computationId: string, id: number, pem: string | null): Promise<boolean> {
    return (await this.db.run("UPDATE participants SET public_key = ? WHERE computation_id = ? AND id = ?", [pem, computationId, id])).changes > 0;
  }
  async setParticipantRole(computationId: string, id: number, role: Role): Promise<boolean> {
    return (await this.db.run("UPDATE participants SET role = ? WHERE computation_id = ? AND id = ?", [role, computationId, id])).changes > 0;
  }
  async removeParticipant(computationId: string, id: number): Promise<boolean> {
    return (await this.db.run("DELETE FROM participants WHERE computation_id = ? AND id = ?", [computationId, id])).changes > 0;
  }
  async addAsset(a: NewAsset): Promise<Asset> {
    const src = { ...CLEAR_SOURCE, ...NO_ALGO_RUN, ...a };
    const rows = await this.db.all(
      "INSERT INTO assets (computation_id, kind, filename, sha3_256, provider_id, description, source_url, encrypted, kbs_resource_path, kbs_url, algo_type, algo_args, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
      [a.computation_id, a.kind, a.filename, a.sha3_256, a.provider_id, a.description, src.source_url, src.encrypted ? 1 : 0, src.kbs_resource_path, src.kbs_url, src.algo_type, JSON.stringify(src.algo_args), Date.now()],
    );
    return asset(rows[0]!);
  }
  async setAssetSource(computationId: string, id: number, s: AssetSource): Promise<Asset | null> {
    const rows = await this.db.all(
      "UPDATE assets SET source_url = ?, encrypted = ?, kbs_resource_path = ?, kbs_url = ? WHERE computation_id = ? AND id = ? RETURNING *",
      [s.source_url, s.encrypted ? 1 : 0, s.kbs_resource_path, s.kbs_url, computationId, id],
    );
    return rows[0] ? asset(rows[0]) : null;
  }
  async setAssetAlgoRun(computationId: string, id: number, r: AlgoRun): Promise<Asset | null> {
    const rows = await this.db.all("UPDATE assets SET algo_type = ?, algo_args = ? WHERE computation_id = ? AND id = ? RETURNING *", [r.algo_type, JSON.stringify(r.algo_args), computationId, id]);
    return rows[0] ? asset(rows[0]) : null;
  }
  async assets(computationId: string): Promise<Asset[]> {
    return (await this.db.all("SELECT * FROM assets WHERE computation_id = ? ORDER BY id", [computationId])).map(asset);
  }
  async removeAsset(computationId: string, id: number): Promise<boolean> {
    return (await this.db.run("DELETE FROM assets WHERE computation_id = ? AND id = ?", [computationId, id])).changes > 0;
  }

  // ---------------------------------------------------------------- managers

  async createManager(m: Pick<ManagerRecord, "id" | "token_hash" | "description" | "agent_host">): Promise<ManagerRecord> {
    const rows = await this.db.all("INSERT INTO managers (id, token_hash, description, agent_host, created_at) VALUES (?, ?, ?, ?, ?) RETURNING *", [m.id, m.token_hash, m.description, m.agent_host, Date.now()]);
    return manager(rows[0]!);
  }
  managerById(id: string): Promise<ManagerRecord | null> {
    return this.one("SELECT * FROM managers WHERE id = ?", [id], manager);
  }
  async managers(): Promise<ManagerRecord[]> {
    return (await this.db.all("SELECT * FROM managers ORDER BY id")).map(manager);
  }
  async deleteManager(id: string): Promise<boolean> {
    return (await this.db.run("DELETE FROM managers WHERE id = ? AND id NOT IN (SELECT manager_id FROM runs)", [id])).changes > 0;
  }
  async markManager(id: string, f: { connected: boolean; host?: string; backend?: string }): Promise<void> {
    const now = Date.now();
    if (f.connected) {
      await this.db.run("UPDATE managers SET connected = 1, connected_at = ?, last_seen = ?, host = ?, backend = ? WHERE id = ?", [now, now, f.host ?? "", f.backend ?? "", id]);
    } else await this.db.run("UPDATE managers SET connected = 0, last_seen = ? WHERE id = ?", [now, id]);
  }
  /** At start-up no manager is connected yet, whatever the last process wrote. */
  async markAllManagersDisconnected(): Promise<void> {
    await this.db.run("UPDATE managers SET connected = 0 WHERE connected = 1");
  }

  // ---------------------------------------------------------------- runs

  async createRun(r: Omit<Run, "agent_port" | "error" | "policy" | "updated_at" | "ended_at">): Promise<Run> {
    const rows = await this.db.all(
      "INSERT INTO runs (id, computation_id, manager_id, manifest_json, manifest_hash, state, started_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
      [r.id, r.computation_id, r.manager_id, r.manifest_json, r.manifest_hash, r.state, r.started_by, r.created_at, r.created_at],
    );
    return run(rows[0]!);
  }
  runById(id: string): Promise<Run | null> {
    return this.one("SELECT * FROM runs WHERE id = ?", [id], run);
  }
  async runsOf(computationId: string): Promise<Run[]> {
    return (await this.db.all("SELECT * FROM runs WHERE computation_id = ? ORDER BY created_at DESC, id", [computationId])).map(run);
  }
  private activeIn(): string {
    return ACTIVE_RUN_STATES.map(() => "?").join(", ");
  }
  /** The run of `computationId` still alive on `managerId` (the manager names computations, not runs). */
  activeRun(managerId: string, computationId: string): Promise<Run | null> {
    return this.one(
      `SELECT * FROM runs WHERE manager_id = ? AND computation_id = ? AND state IN (${this.activeIn()}) ORDER BY created_at DESC LIMIT 1`,
      [managerId, computationId, ...ACTIVE_RUN_STATES],
      run,
    );
  }
  activeRunOf(computationId: string): Promise<Run | null> {
    return this.one(`SELECT * FROM runs WHERE computation_id = ? AND state IN (${this.activeIn()}) ORDER BY created_at DESC LIMIT 1`, [computationId, ...ACTIVE_RUN_STATES], run);
  }
  async activeRunsOn(managerId: string): Promise<Run[]> {
    return (await this.db.all(`SELECT * FROM runs WHERE manager_id = ? AND state IN (${this.activeIn()}) ORDER BY created_at`, [managerId, ...ACTIVE_RUN_STATES])).map(run);
  }
  async updateRun(id: string, f: Partial<Pick<Run, "state" | "agent_port" | "error" | "policy" | "ended_at">>): Promise<Run | null> {
    const keys = Object.keys(f) as (keyof typeof f)[];
    if (keys.length === 0) return this.runById(id);
    // Column names come from the typed key list above, never from input.
    const set = keys.map((k) => `${k} = ?`).join(", ");
    const rows = await this.db.all(`UPDATE runs SET ${set}, updated_at = ? WHERE id = ? RETURNING *`, [...keys.map((k) => f[k] as Param), Date.now(), id]);
    return rows[0] ? run(rows[0]) : null;
  }

  // ---------------------------------------------------------------- timeline

  /** Stores events in one multi-row INSERT; returns them with their ids, in order. */
  async addEvents(events: NewEvent[]): Promise<TimelineEvent[]> {
    if (events.length === 0) return [];
    const row = `(${EVENT_COLUMNS.map(() => "?").join(", ")})`;
    const params: Param[] = [];
    for (const e of events) for (const c of EVENT_COLUMNS) params.push(e[c] as Param);
    const rows = await this.db.all(`INSERT INTO events (${EVENT_COLUMNS.join(", ")}) VALUES ${events.map(() => row).join(", ")} RETURNING id`, params);
    const ids = rows.map((r) => n(r.id)).sort((x, y) => x - y);
    return events.map((e, i) => ({ ...e, id: ids[i]! }));
  }
  async events(f: EventFilter): Promise<TimelineEvent[]> {
    const where: string[] = [];
    const params: Param[] = [];
    const eq = (col: string, v: string | undefined) => {
      if (v !== undefined) (where.push(`${col} = ?`), params.push(v));
    };
    eq("computation_id", f.computation_id);
    eq("run_id", f.run_id);
    eq("source", f.source);
    eq("status", f.status);
    eq("kind", f.kind);
    if (f.from !== undefined) (where.push("time >= ?"), params.push(f.from));
    if (f.to !== undefined) (where.push("time <= ?"), params.push(f.to));
    if (f.after !== undefined) (where.push("id > ?"), params.push(f.after));
    const sql = `SELECT * FROM events${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY id LIMIT ?`;
    return (await this.db.all(sql, [...params, f.limit])).map(event);
  }
}
