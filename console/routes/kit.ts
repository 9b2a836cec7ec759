// What every route module shares: the API's options and context type, the logged-in user, typed
// query and path parameters, and the lookups that answer 404 to whoever may not see a thing.
import type { Context } from "hono";
import { access } from "../access.ts";
import type { LoginLimiter } from "../auth.ts";
import { DbError } from "../db.ts";
import { ApiError, badRequest, conflict, notFound, shown } from "../errors.ts";
import type { ManagerHub } from "../managers.ts";
import type { TimelineBus } from "../timeline.ts";
import type { Run, Store, User } from "../store.ts";
import { MAX_NONCE_BYTES } from "../evidence.ts";
import { runView } from "../views.ts";

export interface ApiOptions {
  store: Store;
  hub: ManagerHub;
  bus: TimelineBus;
  sessionTtlMs: number;
  /** Mark the cookie Secure (the console is served over HTTPS, directly or behind a proxy). */
  secureCookie: boolean;
  /** Failed logins per account and per client address. */
  limits: { account: LoginLimiter; ip: LoginLimiter };
  uiDir?: string;
  /** Cap on a relayed upload body (CONSOLE_MAX_UPLOAD_BYTES; routes/uploads.ts). */
  maxUploadBytes?: number;
  log: { error(msg: string, f?: Record<string, unknown>): void };
  /** The console's external base URL (CONSOLE_PUBLIC_URL, else where it listens): its KBS for encrypted assets. */
  publicUrl: () => string;
}

export type Env = { Variables: { user: User | null; session: string | null } };

/** A uniqueness violation becomes 409 with `what` as the message. */
export const wrapDb = async <T>(p: Promise<T>, what: string): Promise<T> => {
  try {
    return await p;
  } catch (e) {
    if (e instanceof DbError && e.kind === "unique") throw conflict(what);
    throw e;
  }
};

export function clientIp(c: Context): string {
  const server = c.env as { requestIP?(r: Request): { address: string } | null } | undefined;
  return server?.requestIP?.(c.req.raw)?.address ?? "local";
}

export function intParam(c: Context, name: string, o: { min: number; max: number }): number | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v) || Number(v) < o.min || Number(v) > o.max) throw badRequest(`${name}: expected an integer ${o.min}..${o.max}, got ${shown(v)}`);
  return Number(v);
}

export function timeParam(c: Context, name: string): number | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === "") return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw badRequest(`${name}: expected an ISO 8601 time or milliseconds since 1970, got ${shown(v)}`);
  return t;
}

/** A numeric id in the path; anything else is an unknown id (404). */
export function pid(c: Context, name: string): number {
  const v = c.req.param(name) ?? "";
  if (!/^\d{1,15}$/.test(v)) throw notFound(`${name.replace(/_?id$/, "")} ${shown(v)}`);
  return Number(v);
}

export function me(c: Context<Env>): User {
  const u = c.get("user");
  if (!u) throw new ApiError(401, "unauthenticated", "log in first (session cookie or Authorization: Bearer <token>)");
  return u;
}

export function requireAdmin(c: Context<Env>): User {
  const u = me(c);
  if (!u.is_admin) throw new ApiError(403, "forbidden", "only the console's admin (its first user) manages managers");
  return u;
}

/** A run and its computation's access, or 404 when the run is unknown or its computation not visible. */
export async function runAccess(store: Store, c: Context<Env>) {
  const u = me(c);
  const r = await store.runById(c.req.param("id") ?? "");
  if (!r) throw notFound(`run ${shown(c.req.param("id"))}`);
  const a = await access(store, u, r.computation_id).catch(() => {
    throw notFound(`run ${shown(c.req.param("id"))}`);
  });
  return { r, a };
}

/** The `nonce` field of an evidence request: 1 to 64 bytes as hex, returned as given. */
export function nonceField(body: Record<string, unknown>): string {
  const nonceHex = body.nonce;
  if (typeof nonceHex !== "string" || !/^([0-9a-fA-F]{2}){1,64}$/.test(nonceHex)) {
    throw badRequest(`nonce: expected 1 to ${MAX_NONCE_BYTES} bytes as hex (a fresh random value the verifier keeps), got ${shown(nonceHex)}`);
  }
  return nonceHex;
}

/** The address of a run's agent while it is up (409 otherwise). */
export async function runningAgent(store: Store, r: Run): Promise<string> {
  const address = runView(r, await store.managerById(r.manager_id)).agent_address;
  if (!address || !["running", "results_ready"].includes(r.state)) throw new ApiError(409, "run_not_running", `run ${r.id} is ${r.state}: its agent answers only while the run is up`);
  return address;
}
