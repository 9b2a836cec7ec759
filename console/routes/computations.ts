// Computations: create, list, detail (participants, assets, manifest preview, runs, CLI commands),
// edit, delete; participants and their keys; assets by checksum; export and import.
import type { Hono } from "hono";
import { randomBytes } from "node:crypto";
import { access, requireNoActiveRun, requireOwner, type Access } from "../access.ts";
import { ApiError, conflict, notFound, shown } from "../errors.ts";
import { bool, jsonBody, oneOf, text } from "../http-guards.ts";
import { checkAlgoRun, checkAssetFilename, checkAssetSource, checkSha3, normalizePublicKey, previewManifest } from "../manifest.ts";
import { exportComputation, importComputation, previewImport } from "../transfer.ts";
import { ROLES, type AssetKind, type Run } from "../store.ts";
import { assetView, cliCommands, computationView, participantView, runView } from "../views.ts";
import { me, pid, wrapDb, type ApiOptions, type Env } from "./kit.ts";

const SIGNATURES = ["v2-only", "v2", "v1"] as const;
const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

export function computationRoutes(app: Hono<Env>, o: ApiOptions): void {
  const { store } = o;
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
    const preview = previewManifest(a.computation, a.participants, assets, o.publicUrl());
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
    const p = previewManifest(a.computation, a.participants, await store.assets(a.computation.id), o.publicUrl());
    return c.json({ json: p.json, sha3_256: p.sha3_256, missing: p.missing });
  });

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
    const source = checkAssetSource(b);
    const algoRun = checkAlgoRun(b, kind);
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
      store.addAsset({ computation_id: a.computation.id, kind, filename, sha3_256: sha3, provider_id: provider.id, description: text(b, "description", { max: 2000, dflt: "", multiline: true }), ...source, ...algoRun }),
      `an asset named ${shown(filename)} is already registered in this computation (file names are unique)`,
    );
    return c.json({ asset: assetView(asset) }, 201);
  });
  /** The asset the owner or its provider may change or remove, once no run is active. */
  const ownAsset = async (a: Access, aid: number, verb: string) => {
    const asset = (await store.assets(a.computation.id)).find((x) => x.id === aid);
    if (!asset) throw notFound("asset");
    if (!a.isOwner && asset.provider_id !== a.me?.id) throw new ApiError(403, "forbidden", `only the owner or the asset's provider ${verb} it`);
    await requireNoActiveRun(store, a.computation.id);
    return asset;
  };
  // Where the agent gets the asset and whether it is sealed: the whole source is replaced (unset = a clear upload).
  app.put("/api/computations/:id/assets/:aid/source", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    const asset = await ownAsset(a, pid(c, "aid"), "changes");
    const updated = await store.setAssetSource(a.computation.id, asset.id, checkAssetSource(await jsonBody(c)));
    if (!updated) throw notFound("asset");
    return c.json({ asset: assetView(updated) });
  });
  // How the algorithm runs: its type (the guest image and runtime it needs) and arguments, both replaced (unset = left out).
  app.put("/api/computations/:id/assets/:aid/algo", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    const asset = await ownAsset(a, pid(c, "aid"), "changes");
    const updated = await store.setAssetAlgoRun(a.computation.id, asset.id, checkAlgoRun(await jsonBody(c), asset.kind));
    if (!updated) throw notFound("asset");
    return c.json({ asset: assetView(updated) });
  });
  app.delete("/api/computations/:id/assets/:aid", async (c) => {
    const a = await access(store, me(c), c.req.param("id"));
    const asset = await ownAsset(a, pid(c, "aid"), "removes");
    await store.removeAsset(a.computation.id, asset.id);
    return c.body(null, 204);
  });

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
}
