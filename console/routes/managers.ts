// Managers: list with their VMs (computations shown only to who may see them), register, remove.
import type { Hono } from "hono";
import { newToken } from "../auth.ts";
import { access } from "../access.ts";
import { ApiError, conflict, notFound, shown } from "../errors.ts";
import { jsonBody, text } from "../http-guards.ts";
import { managerView } from "../views.ts";
import { me, requireAdmin, wrapDb, type ApiOptions, type Env } from "./kit.ts";

export function managerRoutes(app: Hono<Env>, o: ApiOptions): void {
  const { store, hub } = o;
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
}
