// The console's REST API (hono, JSON). Errors are always `{error: {code, message}}`; the OpenAPI
// document is at /openapi.json; the browser UI is served at / (static.ts).
import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import { randomBytes } from "node:crypto";
import { DUMMY_HASH, LoginLimiter, hashPassword, newToken, tokenHash, verifyPassword } from "./auth.ts";
import { access, requireNoActiveRun, requireOwner, type Access } from "./access.ts";
import { DbError } from "./db.ts";
import { ApiError, badRequest, conflict, notFound, shown } from "./errors.ts";
import { bool, csrfGuard, jsonBody, oneOf, securityHeaders, text } from "./http-guards.ts";
import { checkAssetFilename, checkSha3, normalizePublicKey, previewManifest } from "./manifest.ts";
import type { ManagerHub } from "./managers.ts";
import { MAX_NONCE_BYTES, fetchEvidence } from "./evidence.ts";
import { exportComputation, importComputation, previewImport } from "./transfer.ts";
import { openApiDocument } from "./openapi.ts";
import { staticHandler } from "./static.ts";
import type { TimelineBus } from "./timeline.ts";
import { ROLES, type AssetKind, type Run, type Store, type User } from "./store.ts";
import { assetView, cliCommands, computationView, managerView, participantView, runView, userView } from "./views.ts";

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
  log: { error(msg: string, f?: Record<string, unknown>): void };
}

type Env = { Variables: { user: User | null; session: string | null } };

const COOKIE = "cocos_session";
const SIGNATURES = ["v2-only", "v2", "v1"] as const;
const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

const wrapDb = async <T>(p: Promise<T>, what: string): Promise<T> => {
  try {
    return await p;
  } catch (e) {
    if (e instanceof DbError && e.kind === "unique") throw conflict(what);
    throw e;
  }
};

function clientIp(c: Context): string {
  const server = c.env as { requestIP?(r: Request): { address: string } | null } | undefined;
  return server?.requestIP?.(c.req.raw)?.address ?? "local";
}

function intParam(c: Context, name: string, o: { min: number; max: number }): number | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v) || Number(v) < o.min || Number(v) > o.max) throw badRequest(`${name}: expected an integer ${o.min}..${o.max}, got ${shown(v)}`);
  return Number(v);
}

function timeParam(c: Context, name: string): number | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === "") return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw badRequest(`${name}: expected an ISO 8601 time or milliseconds since 1970, got ${shown(v)}`);
  return t;
}

function pid(c: Context, name: string): number {
  const v = c.req.param(name) ?? "";
  if (!/^\d{1,15}$/.test(v)) throw notFound(`${name.replace(/_?id$/, "")} ${shown(v)}`);
  return Number(v);
}

export function consoleApi(o: ApiOptions): Hono<Env> {
  const { store, hub, bus } = o;
  const app = new Hono<Env>();
  app.use("*", securityHeaders);
  app.use("/api/*", csrfGuard);

  app.onError((e, c) => {
    if (e instanceof ApiError) {
      for (const [k, v] of Object.entries(e.headers)) c.header(k, v);
      return c.json({ error: { code: e.code, message: e.message } }, e.status);
    }
    o.log.error("request failed", { path: c.req.path, error: String((e as Error).stack ?? e) });
    return c.json({ error: { code: "internal", message: "internal error; the console's log has the details" } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  // ---------------------------------------------------------------- authentication

  app.use("/api/*", async (c, next) => {
    c.set("user", null);
    c.set("session", null);
    const bearer = /^Bearer (.+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    const cookie = /(?:^|;\s*)cocos_session=([^;]+)/.exec(c.req.header("cookie") ?? "")?.[1];
    const token = bearer ?? cookie;
    if (token) {
      const found = await store.sessionUser(tokenHash(token));
      if (!found || found.session.expires_at <= Date.now()) {
        if (found) await store.deleteSession(found.session.token_hash);
        // An expired or forged credential is an error, not an anonymous request.
        throw new ApiError(401, "unauthenticated", found ? "the session has expired; log in again" : "the session or token is not valid; log in again");
      }
      c.set("user", found.user);
      c.set("session", found.session.token_hash);
    }
    return next();
  });

  const me = (c: Context<Env>): User => {
    const u = c.get("user");
    if (!u) throw new ApiError(401, "unauthenticated", "log in first (session cookie or Authorization: Bearer <token>)");
    return u;
  };

  const setCookie = (c: Context, token: string) =>
    c.header("set-cookie", `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(o.sessionTtlMs / 1000)}${o.secureCookie ? "; Secure" : ""}`);

  const credentials = async (c: Context) => {
    const b = await jsonBody(c);
    const username = text(b, "username", { max: 64, min: 1 });
    const password = text(b, "password", { max: 1024, min: 1 });
    return { b, username, password };
  };

  const login = async (c: Context, kind: "cookie" | "bearer") => {
    const { b, username, password } = await credentials(c);
    const ip = clientIp(c);
    o.limits.account.check(username);
    o.limits.ip.check(ip);
    const u = await store.userByName(username);
    const ok = await verifyPassword(password, u?.password_hash ?? DUMMY_HASH);
    if (!u || !ok) {
      o.limits.account.fail(username);
      o.limits.ip.fail(ip);
      throw new ApiError(401, "bad_credentials", "wrong username or password");
    }
    o.limits.account.succeed(username);
    const { token, hash } = newToken(kind === "cookie" ? "cs" : "ct");
    const now = Date.now();
    await store.createSession({ token_hash: hash, user_id: u.id, kind, name: kind === "bearer" ? text(b, "name", { max: 100, dflt: "" }) : "", created_at: now, expires_at: now + o.sessionTtlMs });
    return { u, token, expires_at: now + o.sessionTtlMs };
  };

  app.post("/api/auth/register", async (c) => {
    const { username, password } = await credentials(c);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(username)) throw new ApiError(400, "invalid_field", `username: expected 1-64 letters, digits, '.', '_' or '-', got ${shown(username)}`);
    if (password.length < 8) throw new ApiError(400, "weak_password", `password: expected at least 8 characters, got ${password.length}`);
    const u = await wrapDb(store.createUser(username, await hashPassword(password)), `username ${shown(username)} is taken`);
    const { token, hash } = newToken("cs");
    const now = Date.now();
    await store.createSession({ token_hash: hash, user_id: u.id, kind: "cookie", name: "", created_at: now, expires_at: now + o.sessionTtlMs });
    setCookie(c, token);
    return c.json({ user: userView(u) }, 201);
  });
  app.post("/api/auth/login", async (c) => {
    const { u, token } = await login(c, "cookie");
    setCookie(c, token);
    return c.json({ user: userView(u) });
  });
  app.post("/api/auth/token", async (c) => {
    const { u, token, expires_at } = await login(c, "bearer");
    return c.json({ user: userView(u), token, expires_at }, 201);
  });
  app.post("/api/auth/logout", async (c) => {
    const s = c.get("session");
    if (s) await store.deleteSession(s);
    c.header("set-cookie", `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
    return c.body(null, 204);
  });
  app.get("/api/me", (c) => c.json({ user: userView(me(c)) }));

  // ---------------------------------------------------------------- computations

  const computationFields = (b: Record<string, unknown>, cur?: { name: string; description: string; signatures: string; attested_tls: boolean; agent_port: string; log_level: string }) => {
    const port = text(b, "agent_port", { max: 5, dflt: cur?.agent_port ?? "7002" });
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new ApiError(400, "invalid_field", `agent_port: expected a port 1..65535, got ${shown(port)}`);
    return {
      name: text(b, "name", { max: 200, min: 1, dflt: cur?.name }),
      description: text(b, "description", { max: 4000, dflt: cur?.description ?? "", multiline: true }),
      signatures: oneOf(b, "signatures", SIGNATURES, (cur?.signatures as (typeof SIGNATURES)[number]) ?? "v2-only"),
      attested_tls: bool(b, "attested_tls", cur?.attested_tls ?? true),
      agent_port: port,
      log_level: oneOf(b, "log_level", LOG_LEVELS, (cur?.log_level as (typeof LOG_LEVELS)[number]) ?? "info"),
    };
  };

  const latestState = async (id: string) => (await store.runsOf(id))[0]?.state ?? null;

  app.get("/api/computations", async (c) => {
    const u = me(c);
    const list = await store.computationsVisibleTo(u.id);
    return c.json({ computations: list.map((x) => ({ ...computationView(x, x.latest_state), is_owner: x.owner_id === u.id })) });
  });
  app.post("/api/computations", async (c) => {
    const u = me(c);
    const f = computationFields(await jsonBody(c));
    const now = Date.now();
    // Ids go into the manifest, the manager's file names and the agent's environment: letters and digits only.
    const created = await store.createComputation({ id: `c${randomBytes(12).toString("hex")}`, owner_id: u.id, ...f, created_at: now, updated_at: now });
    return c.json({ computation: computationView(created, null) }, 201);
  });

  const detail = async (a: Access, userId: number) => {
    const [assets, runs, managerList] = await Promise.all([store.assets(a.computation.id), store.runsOf(a.computation.id), store.managers()]);
    const managers = new Map(managerList.map((m) => [m.id, m]));
    const preview = previewManifest(a.computation, a.participants, assets);
    const latest = runs[0];
    return {
      computation: { ...computationView(a.computation, latest?.state ?? null), is_owner: a.isOwner },
      my_participation: a.me ? participantView(a.me) : null,
      participants: a.participants.map(participantView),
      assets: assets.map(assetView),
      manifest: { json: preview.json, sha3_256: preview.sha3_256, missing: preview.missing },
      runs: runs.map((r) => runView(r, managers.get(r.manager_id) ?? null)),
      cli: latest ? cliCommands(latest, runView(latest, managers.get(latest.manager_id) ?? null).agent_address, a.computation, assets) : cliCommands({ agent_port: "" } as Run, null, a.computation, assets),
      viewer: userId,
    };
  };

  app.get("/api/computations/:id", async (c) => {
    const u = me(c);
    return c.json(await detail(await access(store, u, c.req.param("id")), u.id));
  });
  app.patch("/api/computations/:id", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    requireOwner(a);
    await requireNoActiveRun(store, a.computation.id);
    const updated = await store.updateComputation(a.computation.id, computationFields(await jsonBody(c), a.computation));
    return c.json({ computation: computationView(updated!, await latestState(a.computation.id)) });
  });
  app.delete("/api/computations/:id", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    requireOwner(a);
    await requireNoActiveRun(store, a.computation.id);
    await store.deleteComputation(a.computation.id);
    return c.body(null, 204);
  });
  app.get("/api/computations/:id/manifest", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    const p = previewManifest(a.computation, a.participants, await store.assets(a.computation.id));
    return c.json({ json: p.json, sha3_256: p.sha3_256, missing: p.missing });
  });

  // ---------------------------------------------------------------- participants and assets

  app.post("/api/computations/:id/participants", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    requireOwner(a);
    await requireNoActiveRun(store, a.computation.id);
    const b = await jsonBody(c);
    const username = text(b, "username", { max: 64, min: 1 });
    const role = oneOf(b, "role", ROLES);
    const who = await store.userByName(username);
    if (!who) throw new ApiError(404, "not_found", `user ${shown(username)} not found: they register first`);
    const p = await wrapDb(store.addParticipant(a.computation.id, who.id, role, null), `${username} already takes part in this computation (one role per user)`);
    return c.json({ participant: participantView(p) }, 201);
  });
  app.patch("/api/computations/:id/participants/:pid", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    requireOwner(a);
    await requireNoActiveRun(store, a.computation.id);
    const role = oneOf(await jsonBody(c), "role", ROLES);
    if (!(await store.setParticipantRole(a.computation.id, pid(c, "pid"), role))) throw notFound("participant");
    return c.json({ participant: participantView((await store.participant(a.computation.id, pid(c, "pid")))!) });
  });
  app.delete("/api/computations/:id/participants/:pid", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    requireOwner(a);
    await requireNoActiveRun(store, a.computation.id);
    if (!(await store.removeParticipant(a.computation.id, pid(c, "pid")))) throw notFound("participant");
    return c.body(null, 204);
  });
  // Each party uploads its own key: nobody (not even the owner) can put a key in another's name.
  app.put("/api/computations/:id/participants/:pid/key", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    const p = a.participants.find((x) => x.id === pid(c, "pid"));
    if (!p) throw notFound("participant");
    if (p.user_id !== me(c).id) throw new ApiError(403, "forbidden", "each participant uploads their own public key");
    await requireNoActiveRun(store, a.computation.id);
    const key = normalizePublicKey((await jsonBody(c)).public_key);
    await store.setParticipantKey(a.computation.id, p.id, key.pem);
    return c.json({ participant: participantView((await store.participant(a.computation.id, p.id))!), key_type: key.type });
  });

  app.post("/api/computations/:id/assets", async (c) => {
    const u = me(c);
    const a = await access(store, u, c.req.param("id"));
    await requireNoActiveRun(store, a.computation.id);
    const b = await jsonBody(c);
    const kind = oneOf<AssetKind>(b, "kind", ["algorithm", "dataset"]);
    const filename = checkAssetFilename(b.filename);
    const sha3 = checkSha3(b.sha3_256);
    const role = kind === "algorithm" ? "algorithm_provider" : "data_provider";
    let provider = a.me;
    if (b.provider_id !== undefined) {
      if (!a.isOwner && b.provider_id !== a.me?.id) throw new ApiError(403, "forbidden", "only the owner registers an asset for another participant");
      provider = a.participants.find((p) => p.id === b.provider_id) ?? null;
      if (!provider) throw new ApiError(400, "invalid_field", `provider_id: expected the id of a participant, got ${shown(b.provider_id)}`);
    }
    if (!provider || provider.role !== role) {
      // Your own role does not allow it → 403; the owner naming a participant of the wrong role → 400.
      const own = !provider || provider.id === a.me?.id;
      throw new ApiError(own ? 403 : 400, own ? "forbidden" : "invalid_field", `${kind === "algorithm" ? "an algorithm" : "a dataset"} is registered by (or for) a participant with role ${role}${provider ? `, not ${provider.role}` : ""}`);
    }
    if (!a.isOwner && provider.id !== a.me?.id) throw new ApiError(403, "forbidden", "you register only your own assets");
    if (kind === "algorithm" && (await store.assets(a.computation.id)).some((x) => x.kind === "algorithm")) throw conflict("the computation already has an algorithm; remove it first");
    const asset = await wrapDb(
      store.addAsset({ computation_id: a.computation.id, kind, filename, sha3_256: sha3, provider_id: provider.id, description: text(b, "description", { max: 2000, dflt: "", multiline: true }) }),
      `an asset named ${shown(filename)} is already registered in this computation (file names are unique)`,
    );
    return c.json({ asset: assetView(asset) }, 201);
  });
  app.delete("/api/computations/:id/assets/:aid", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    const asset = (await store.assets(a.computation.id)).find((x) => x.id === pid(c, "aid"));
    if (!asset) throw notFound("asset");
    if (!a.isOwner && asset.provider_id !== a.me?.id) throw new ApiError(403, "forbidden", "only the owner or the asset's provider removes it");
    await requireNoActiveRun(store, a.computation.id);
    await store.removeAsset(a.computation.id, asset.id);
    return c.body(null, 204);
  });

  // ---------------------------------------------------------------- export / import

  app.get("/api/computations/:id/export", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    requireOwner(a);
    c.header("content-disposition", `attachment; filename="${a.computation.id}.computation.json"`);
    return c.json(exportComputation(a.computation, a.participants, await store.assets(a.computation.id)));
  });
  app.post("/api/computations/import/preview", async (c) => c.json(await previewImport(store, me(c), await jsonBody(c))));
  app.post("/api/computations/import", async (c) => {
    const u = me(c);
    const created = await importComputation(store, u, await jsonBody(c));
    return c.json({ computation: computationView(created, null) }, 201);
  });

  // ---------------------------------------------------------------- runs

  const runAccess = async (c: Context<Env>) => {
    const u = me(c);
    const r = await store.runById(c.req.param("id") ?? "");
    if (!r) throw notFound(`run ${shown(c.req.param("id"))}`);
    const a = await access(store, u, r.computation_id).catch(() => {
      throw notFound(`run ${shown(c.req.param("id"))}`);
    });
    return { r, a };
  };

  app.post("/api/computations/:id/runs", async (c) => {
    const u = me(c);
    const a = await access(store, u, c.req.param("id"));
    requireOwner(a);
    const managerId = text(await jsonBody(c), "manager_id", { max: 128, min: 1 });
    const preview = previewManifest(a.computation, a.participants, await store.assets(a.computation.id));
    if (!preview.json) throw new ApiError(422, "manifest_incomplete", `the manifest is not complete: ${preview.missing.join("; ")}`);
    const m = await store.managerById(managerId);
    if (!m) throw notFound(`manager ${shown(managerId)}`);
    if (!hub.isConnected(managerId)) throw new ApiError(409, "manager_offline", `manager ${shown(managerId)} is not connected; pick a connected manager`);
    await requireNoActiveRun(store, a.computation.id);
    const r = await store.createRun({ id: `r${randomBytes(12).toString("hex")}`, computation_id: a.computation.id, manager_id: managerId, manifest_json: preview.json, manifest_hash: preview.sha3_256!, state: "starting", started_by: u.id, created_at: Date.now() });
    hub.rememberRun(r);
    hub.note(r.computation_id, r.id, managerId, "Console", "Starting", `${u.username} started the run on manager ${managerId} (manifest ${preview.sha3_256})`);
    if (!hub.sendRun(managerId, preview.json)) {
      await store.updateRun(r.id, { state: "failed", error: `manager ${managerId} went away before the request was sent`, ended_at: Date.now() });
      throw new ApiError(409, "manager_offline", `manager ${shown(managerId)} went away before the request was sent`);
    }
    bus.publish(r.computation_id, { type: "run", run: r });
    return c.json({ run: runView(r, m) }, 201);
  });
  app.get("/api/computations/:id/runs", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    const managers = new Map((await store.managers()).map((m) => [m.id, m]));
    return c.json({ runs: (await store.runsOf(a.computation.id)).map((r) => runView(r, managers.get(r.manager_id) ?? null)) });
  });
  app.get("/api/runs/:id", async (c) => {
    const { r, a } = await runAccess(c);
    const m = await store.managerById(r.manager_id);
    const view = runView(r, m);
    return c.json({ run: view, cli: cliCommands(r, view.agent_address, a.computation, await store.assets(a.computation.id)) });
  });
  app.post("/api/runs/:id/stop", async (c) => {
    const { r, a } = await runAccess(c);
    requireOwner(a);
    if (r.state === "stopped") throw conflict(`run ${r.id} is already stopped`);
    if (!hub.send(r.manager_id, { stopComputation: { computation_id: r.computation_id } })) {
      throw new ApiError(409, "manager_offline", `manager ${shown(r.manager_id)} is not connected; the stop is sent when you retry after it reconnects`);
    }
    const next = ["completed", "failed"].includes(r.state) ? r : await store.updateRun(r.id, { state: "stopping" });
    hub.note(r.computation_id, r.id, r.manager_id, "Console", "InProgress", `${me(c).username} asked to stop the run`);
    if (next) bus.publish(r.computation_id, { type: "run", run: next });
    return c.json({ run: runView(next!, await store.managerById(r.manager_id)) }, 202);
  });
  app.get("/api/runs/:id/policy", async (c) => {
    const { r } = await runAccess(c);
    if (r.policy === null) throw new ApiError(409, "policy_not_ready", `the manager has not sent run ${r.id}'s attestation policy yet (it does once the VM is up)`);
    c.header("content-disposition", `attachment; filename="${r.computation_id}.policy.json"`);
    return c.body(r.policy, 200, { "content-type": "application/json" });
  });

  // The agent's evidence for the caller's nonce, relayed raw (base64): the caller verifies it, not us.
  app.post("/api/runs/:id/attestation", async (c) => {
    const { r, a } = await runAccess(c);
    const nonceHex = (await jsonBody(c)).nonce;
    if (typeof nonceHex !== "string" || !/^([0-9a-fA-F]{2}){1,64}$/.test(nonceHex)) {
      throw badRequest(`nonce: expected 1 to ${MAX_NONCE_BYTES} bytes as hex (a fresh random value the verifier keeps), got ${shown(nonceHex)}`);
    }
    const address = runView(r, await store.managerById(r.manager_id)).agent_address;
    if (!address || !["running", "results_ready"].includes(r.state)) throw new ApiError(409, "run_not_running", `run ${r.id} is ${r.state}: its agent answers only while the run is up`);
    let evidence: Uint8Array;
    try {
      evidence = await fetchEvidence(address, a.computation.attested_tls, Buffer.from(nonceHex, "hex"));
    } catch (e) {
      throw new ApiError(502, "agent_unreachable", `the agent at ${address} did not return evidence: ${(e as Error).message}`);
    }
    return c.json({
      run_id: r.id, computation_id: r.computation_id, manifest_sha3_256: r.manifest_hash, nonce: nonceHex.toLowerCase(),
      evidence_base64: Buffer.from(evidence).toString("base64"), policy: r.policy === null ? null : JSON.parse(r.policy),
    });
  });

  // ---------------------------------------------------------------- timeline

  app.get("/api/computations/:id/events", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    const limit = intParam(c, "limit", { min: 1, max: 1000 }) ?? 100;
    const kind = c.req.query("kind");
    if (kind !== undefined && kind !== "event" && kind !== "log") throw badRequest(`kind: expected event or log, got ${shown(kind)}`);
    const events = await store.events({
      computation_id: a.computation.id, run_id: c.req.query("run"), source: c.req.query("source"), status: c.req.query("status"), kind,
      from: timeParam(c, "from"), to: timeParam(c, "to"), after: intParam(c, "after", { min: 0, max: Number.MAX_SAFE_INTEGER }), limit,
    });
    const next = events.length === limit ? events[events.length - 1]!.id : null;
    return c.json({ events, next_after: next });
  });
  // Live: what is stored after `after` (or Last-Event-ID), then every new event and run change as it happens.
  app.get("/api/computations/:id/events/stream", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    const runId = c.req.query("run");
    let last = intParam(c, "after", { min: 0, max: Number.MAX_SAFE_INTEGER }) ?? Number(/^\d+$/.test(c.req.header("last-event-id") ?? "") ? c.req.header("last-event-id") : 0);
    (c.env as { timeout?(r: Request, s: number): void } | undefined)?.timeout?.(c.req.raw, 0);
    return streamSSE(c, async (s) => {
      const pending: import("./timeline.ts").BusMessage[] = [];
      let wake: (() => void) | null = null;
      const unsubscribe = bus.subscribe(a.computation.id, (m) => {
        pending.push(m);
        wake?.();
      });
      let open = true;
      s.onAbort(() => {
        open = false;
        wake?.();
      });
      try {
        for (;;) {
          const backlog = await store.events({ computation_id: a.computation.id, run_id: runId, after: last, limit: 1000 });
          for (const e of backlog) await s.writeSSE({ event: "timeline", id: String(e.id), data: JSON.stringify(e) });
          if (backlog.length) last = backlog[backlog.length - 1]!.id;
          if (backlog.length < 1000) break;
        }
        while (open) {
          if (!pending.length) {
            await new Promise<void>((r) => {
              wake = r;
              setTimeout(r, 15_000);
            });
            wake = null;
            if (!pending.length && open) await s.writeSSE({ event: "ping", data: "{}" });
          }
          for (const m of pending.splice(0)) {
            if (m.type === "event") {
              if (m.event.id <= last || (runId && m.event.run_id !== runId)) continue;
              last = m.event.id;
              await s.writeSSE({ event: "timeline", id: String(m.event.id), data: JSON.stringify(m.event) });
            } else if (!runId || m.run.id === runId) {
              await s.writeSSE({ event: "run", data: JSON.stringify(runView(m.run, await store.managerById(m.run.manager_id))) });
            }
          }
        }
      } finally {
        unsubscribe();
      }
    });
  });

  // ---------------------------------------------------------------- managers

  const requireAdmin = (c: Context<Env>) => {
    const u = me(c);
    if (!u.is_admin) throw new ApiError(403, "forbidden", "only the console's admin (its first user) manages managers");
    return u;
  };
  app.get("/api/managers", async (c) => {
    const u = me(c);
    const out = [];
    for (const m of await store.managers()) {
      const vms = [];
      for (const r of await store.activeRunsOn(m.id)) {
        const visible = await access(store, u, r.computation_id).then((x) => x.computation, () => null);
        vms.push({ run_id: visible ? r.id : null, state: r.state, started_at: r.created_at, uptime_ms: Date.now() - r.created_at, computation: visible ? { id: visible.id, name: visible.name } : null });
      }
      out.push(managerView(m, hub.isConnected(m.id), vms));
    }
    return c.json({ managers: out });
  });
  app.post("/api/managers", async (c) => {
    requireAdmin(c);
    const b = await jsonBody(c);
    const id = text(b, "id", { max: 128, min: 1 });
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id)) throw new ApiError(400, "invalid_field", `id: expected letters, digits, '.', '_' or '-', got ${shown(id)}`);
    const agentHost = text(b, "agent_host", { max: 255, dflt: "" });
    if (agentHost && !/^[A-Za-z0-9.:-]+$/.test(agentHost)) throw new ApiError(400, "invalid_field", `agent_host: expected a host name or IP address, got ${shown(agentHost)}`);
    const { token, hash } = newToken("cm");
    const m = await wrapDb(store.createManager({ id, token_hash: hash, description: text(b, "description", { max: 500, dflt: "" }), agent_host: agentHost }), `manager ${shown(id)} is already registered`);
    // The token is shown once: the manager sends it as MANAGER_CONSOLE_TOKEN.
    return c.json({ manager: managerView(m, false, []), token }, 201);
  });
  app.delete("/api/managers/:id", async (c) => {
    requireAdmin(c);
    const id = c.req.param("id");
    if (!(await store.managerById(id))) throw notFound(`manager ${shown(id)}`);
    if (!(await store.deleteManager(id))) throw conflict(`manager ${shown(id)} has runs on record; it stays`);
    return c.body(null, 204);
  });

  app.get("/openapi.json", (c) => c.json(openApiDocument()));
  app.get("/api/health", (c) => c.json({ ok: true }));
  app.all("/api/*", (c) => c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  app.get("*", staticHandler(o.uiDir));
  return app;
}
