// Manager HTTP API (hono): GET /health, /metrics, /vms, /vms/:id; DELETE /vms/:id.
import { Hono } from "hono";
import type { Manager } from "./service.ts";

export interface HttpStatus {
  version: string;
  instanceId: string;
  connected(): boolean;
}

export function managerApp(m: Manager, s: HttpStatus): Hono {
  const app = new Hono();
  app.get("/health", (c) =>
    c.json({
      status: "pass",
      version: s.version,
      instance_id: s.instanceId,
      backend: m.backend.name,
      computations_server_connected: s.connected(),
      vms: m.list().length,
    }),
  );
  app.get("/metrics", (c) =>
    c.text(m.metrics.render({ manager_vms: m.list().length, manager_computations_server_connected: s.connected() ? 1 : 0 }), 200, {
      "content-type": "text/plain; version=0.0.4",
    }),
  );
  app.get("/vms", (c) => c.json(m.list()));
  app.get("/vms/:id", (c) => {
    const vm = m.find(c.req.param("id"));
    return vm ? c.json(vm) : c.json({ error: `no VM or computation with id ${JSON.stringify(c.req.param("id"))}` }, 404);
  });
  app.delete("/vms/:id", async (c) => {
    const vm = m.find(c.req.param("id"));
    if (!vm) return c.json({ error: `no VM or computation with id ${JSON.stringify(c.req.param("id"))}` }, 404);
    const err = await m.stop(vm.computationId);
    return err ? c.json({ error: err }, 500) : c.json({ stopped: vm.id, computation_id: vm.computationId });
  });
  return app;
}
