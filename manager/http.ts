// Manager HTTP API (hono): GET /health, /metrics, /vms, /vms/:id; DELETE /vms/:id.
// Every request must name this server in its Host header (a DNS-rebinding page names its own
// domain), and everything but /health needs `Authorization: Bearer <token>`.
import { createHash, timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import type { Manager } from "./service.ts";

export interface HttpStatus {
  version: string;
  instanceId: string;
  connected(): boolean;
}

export interface HttpAccess {
  /** The bearer token every route but /health requires. */
  token: string;
  /** True when a Host header value names this server (see allowedHosts). */
  hostAllowed(host: string): boolean;
}

/** Host header values that name a server bound to `bound`:`port`: the bound address, loopback names, `extra` names. */
export function allowedHosts(bound: string, port: number, extra: string[] = []): (host: string) => boolean {
  const names = new Set([bound, "localhost", "127.0.0.1", "[::1]", ...extra].map((n) => n.toLowerCase()));
  // A wildcard bind address is not a name a client uses.
  for (const any of ["0.0.0.0", "::", "[::]"]) names.delete(any);
  const ok = new Set([...names].flatMap((n) => [`${n}:${port}`, ...(port === 80 ? [n] : [])]));
  return (host) => ok.has(host.toLowerCase());
}

/** Constant-time comparison (both sides hashed first, so lengths do not leak either). */
export function tokenMatches(given: string, expected: string): boolean {
  const h = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(h(given), h(expected));
}

export function managerApp(m: Manager, s: HttpStatus, access: HttpAccess): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    const host = c.req.header("host") ?? "";
    if (!access.hostAllowed(host)) {
      return c.json({ error: `misdirected request: Host ${JSON.stringify(host)} does not name this manager (expected its bound address or localhost with its port, or a name in MANAGER_HTTP_ALLOWED_HOSTS)` }, 421);
    }
    if (c.req.path === "/health") return next();
    const auth = c.req.header("authorization") ?? "";
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m || !tokenMatches(m[1]!, access.token)) {
      c.header("WWW-Authenticate", 'Bearer realm="cocos-manager"');
      const why = m ? "the bearer token is wrong" : "expected an Authorization: Bearer <token> header (the token is in <state dir>/http-token or MANAGER_HTTP_TOKEN)";
      return c.json({ error: `unauthorized: ${why}` }, 401);
    }
    return next();
  });
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
