// Runs: start on a connected manager, state, stop, the attestation policy, the agent's evidence.
import type { Hono } from "hono";
import { randomBytes } from "node:crypto";
import { access, requireNoActiveRun, requireOwner } from "../access.ts";
import { ApiError, conflict, notFound, shown } from "../errors.ts";
import { jsonBody, text } from "../http-guards.ts";
import { previewManifest } from "../manifest.ts";
import { fetchEvidence } from "../evidence.ts";
import { cliCommands, runView } from "../views.ts";
import { me, nonceField, runAccess, runningAgent, type ApiOptions, type Env } from "./kit.ts";

export function runRoutes(app: Hono<Env>, o: ApiOptions): void {
  const { store, hub, bus } = o;
  app.post("/api/computations/:id/runs", async (c) => {
    const u = me(c);
    const a = await access(store, u, c.req.param("id"));
    requireOwner(a);
    const managerId = text(await jsonBody(c), "manager_id", { max: 128, min: 1 });
    const preview = previewManifest(a.computation, a.participants, await store.assets(a.computation.id), o.publicUrl());
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
    const { r, a } = await runAccess(store, c);
    const m = await store.managerById(r.manager_id);
    const view = runView(r, m);
    return c.json({ run: view, cli: cliCommands(r, view.agent_address, a.computation, await store.assets(a.computation.id)) });
  });
  app.post("/api/runs/:id/stop", async (c) => {
    const { r, a } = await runAccess(store, c);
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
    const { r } = await runAccess(store, c);
    if (r.policy === null) throw new ApiError(409, "policy_not_ready", `the manager has not sent run ${r.id}'s attestation policy yet (it does once the VM is up)`);
    c.header("content-disposition", `attachment; filename="${r.computation_id}.policy.json"`);
    return c.body(r.policy, 200, { "content-type": "application/json" });
  });

  // The agent's evidence for the caller's nonce, relayed raw (base64): the caller verifies it, not us.
  app.post("/api/runs/:id/attestation", async (c) => {
    const { r, a } = await runAccess(store, c);
    const nonceHex = nonceField(await jsonBody(c));
    const address = await runningAgent(store, r);
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
}
