// The console's key broker: the Trustee protocol at /kbs/v0/* (the agent is the client: no cookie,
// no CSRF header; kbs/server.ts rate-limits and bounds it) over the console's own database, and the
// owner's administration of a computation's resources under /api/computations/:id/kbs/*.
// A computation's resource is released only to evidence whose host_data is that computation's
// manifest hash (its active run's, else its current one), whatever policy the owner stored: the
// image measurement alone is the same for every computation, the manifest is what tells them apart.
import type { Hono } from "hono";
import { access, requireOwner, type Access } from "../access.ts";
import { ApiError, notFound, shown } from "../errors.ts";
import { jsonBody } from "../http-guards.ts";
import { previewManifest } from "../manifest.ts";
import { kbsApp, parseResourcePolicy, parseSecret, resourcePathOf } from "../kbs/server.ts";
import { DbKbsStore, KbsPathTaken, type KbsStore, type ResourceInfo } from "../kbs/store.ts";
import type { Store } from "../store.ts";
import { parsePolicy, setHostData, setMeasurement, type AttestationPolicy } from "../../attestation/policy.ts";
import { fromHex } from "../../protocol/hash.ts";
import { parseResourcePath } from "../../protocol/manifest.ts";
import { me, type ApiOptions, type Env } from "./kit.ts";

/** A KBS secret is a key (Cocos: 32 bytes), not a dataset. */
export const MAX_KBS_SECRET = 64 << 10;

/** The manifest hash (hex) an enclave of `computationId` runs with, or why there is none. */
async function boundManifestHash(store: Store, computationId: string, consoleKbsUrl: string): Promise<string | { refused: string }> {
  const run = await store.activeRunOf(computationId);
  if (run) return run.manifest_hash;
  const c = await store.computation(computationId);
  if (!c) return { refused: `computation ${computationId} no longer exists` };
  const [participants, assets] = await Promise.all([store.participants(computationId), store.assets(computationId)]);
  const p = previewManifest(c, participants, assets, consoleKbsUrl);
  return p.sha3_256 ?? { refused: `computation ${computationId} has no active run and an incomplete manifest (${p.missing.join("; ")})` };
}

/** The stored policy with host_data pinned to the computation's manifest, checked at each release. */
async function releasePolicy(store: Store, r: { policy: AttestationPolicy; computationId: string | null }, consoleKbsUrl: string): Promise<AttestationPolicy | string> {
  if (r.computationId === null) return r.policy;
  const hash = await boundManifestHash(store, r.computationId, consoleKbsUrl);
  if (typeof hash !== "string") return hash.refused;
  return setHostData(r.policy, fromHex(hash));
}

/** The RCAR endpoints, mounted at the console's root. */
export function kbsProtocol(o: ApiOptions, kbs: KbsStore): Hono {
  return kbsApp({ store: kbs, releasePolicy: (r) => releasePolicy(o.store, r, o.publicUrl()), log: (msg, f) => (msg === "kbs internal error" ? o.log.error(msg, f) : undefined) });
}

/**
 * The policy of a PUT: the body's `policy`, else the latest run's (from its manager), with the
 * body's `measurement` (48 bytes, hex or base64) over either. host_data is the console's to bind.
 */
async function policyOfBody(store: Store, a: Access, b: Record<string, unknown>): Promise<AttestationPolicy> {
  let policy: AttestationPolicy | undefined;
  if (b.policy !== undefined) {
    if (typeof b.policy !== "object" || b.policy === null || Array.isArray(b.policy)) throw new ApiError(400, "invalid_field", `policy: expected a Cocos attestation policy object, got ${shown(b.policy)}`);
    policy = parsePolicy(JSON.stringify(b.policy));
  } else {
    const withPolicy = (await store.runsOf(a.computation.id)).find((r) => r.policy !== null);
    if (withPolicy) policy = parsePolicy(withPolicy.policy!);
  }
  if (b.measurement !== undefined) {
    if (typeof b.measurement !== "string") throw new ApiError(400, "invalid_field", `measurement: expected 48 bytes as hex or base64, got ${shown(b.measurement)}`);
    try {
      policy = setMeasurement(policy ?? {}, b.measurement);
    } catch (e) {
      throw new ApiError(400, "invalid_field", `measurement: ${(e as Error).message}`);
    }
  }
  if (!policy) throw new ApiError(400, "invalid_field", "policy: expected a policy or a measurement; no run of this computation has an attestation policy from its manager to default to");
  if (b.policy !== undefined && policy.policy?.host_data) {
    throw new ApiError(400, "invalid_field", "policy.host_data: expected none — the console binds it to the computation's manifest hash at each release");
  }
  if (policy.policy) delete policy.policy.host_data; // a run's policy names that run's manifest; the release binds the current one
  if (!policy.policy?.measurement && policy.tdx?.mr_td) {
    throw new ApiError(400, "invalid_field", "policy: expected an SEV-SNP measurement; TDX evidence carries no manifest binding the console could check (use the standalone cocos-kbs)");
  }
  const checked = parseResourcePolicy(policy);
  if (typeof checked === "string") throw new ApiError(400, "invalid_field", checked);
  return checked;
}

const resourceView = (r: ResourceInfo) => ({
  path: r.path,
  policy: r.policy,
  updated_at: r.updatedAt,
  host_data: "bound at each release to the computation's manifest hash (its active run's, else its current one)",
});

/** Owner administration; participants may see paths and policies, nobody a secret. */
export function kbsRoutes(app: Hono<Env>, o: ApiOptions, kbs: KbsStore): void {
  const { store } = o;
  const pathOf = (c: { req: { param(n: string): string | undefined } }) => {
    const path = resourcePathOf(c);
    const bad = parseResourcePath(path);
    if (typeof bad === "string") throw new ApiError(400, "invalid_path", `resource path: ${bad}`);
    return path;
  };
  const owned = async (computationId: string, path: string) => {
    const r = await kbs.get(path);
    if (!r || r.computationId !== computationId) throw notFound(`KBS resource ${shown(path)} of this computation`);
    return r;
  };

  app.get("/api/computations/:id/kbs", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    return c.json({ resources: (await kbs.list(a.computation.id)).map(resourceView) });
  });
  app.get("/api/computations/:id/kbs/:repo/:type/:tag", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    const { secret: _never, ...r } = await owned(a.computation.id, pathOf(c));
    return c.json({ resource: resourceView(r) });
  });
  app.put("/api/computations/:id/kbs/:repo/:type/:tag", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    requireOwner(a);
    const path = pathOf(c);
    const b = await jsonBody(c);
    const secret = parseSecret(b.secret);
    if (typeof secret === "string") throw new ApiError(400, "invalid_field", secret);
    if (secret.length > MAX_KBS_SECRET) throw new ApiError(400, "invalid_field", `secret: expected at most ${MAX_KBS_SECRET} bytes, got ${secret.length}`);
    const policy = await policyOfBody(store, a, b);
    try {
      await kbs.put(path, secret, policy, a.computation.id);
    } catch (e) {
      if (e instanceof KbsPathTaken) throw new ApiError(409, "conflict", e.message);
      throw e;
    }
    const { secret: _never, ...r } = await owned(a.computation.id, path);
    return c.json({ resource: resourceView(r) });
  });
  app.delete("/api/computations/:id/kbs/:repo/:type/:tag", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    requireOwner(a);
    if (!(await kbs.delete(pathOf(c), a.computation.id))) throw notFound(`KBS resource ${shown(pathOf(c))} of this computation`);
    return c.body(null, 204);
  });
}

/** The console's KBS store: its own database. */
export const consoleKbsStore = (store: Store): KbsStore => new DbKbsStore(store.db);
