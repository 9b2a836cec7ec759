// The console's REST API (hono, JSON): guards, error shape and route modules (routes/). Errors are
// always `{error: {code, message}}`; the OpenAPI document is at /openapi.json; the browser UI is
// served at / (static.ts).
import { Hono } from "hono";
import { ApiError } from "./errors.ts";
import { csrfGuard, securityHeaders } from "./http-guards.ts";
import { openApiDocument } from "./openapi.ts";
import { staticHandler } from "./static.ts";
import { authRoutes } from "./routes/auth.ts";
import { computationRoutes } from "./routes/computations.ts";
import { consoleKbsStore, kbsProtocol, kbsRoutes } from "./routes/kbs.ts";
import { managerRoutes } from "./routes/managers.ts";
import { runRoutes } from "./routes/runs.ts";
import { timelineRoutes } from "./routes/timeline.ts";
import { uploadRoutes } from "./routes/uploads.ts";
import type { ApiOptions, Env } from "./routes/kit.ts";

export type { ApiOptions } from "./routes/kit.ts";

export function consoleApi(o: ApiOptions): Hono<Env> {
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

  authRoutes(app, o);
  computationRoutes(app, o);
  runRoutes(app, o);
  timelineRoutes(app, o);
  managerRoutes(app, o);
  uploadRoutes(app, o);
  // The agent speaks Trustee's protocol here, outside /api/* (no session, no CSRF header).
  const kbs = consoleKbsStore(o.store);
  kbsRoutes(app, o, kbs);
  app.route("/", kbsProtocol(o, kbs));

  app.get("/openapi.json", (c) => c.json(openApiDocument()));
  app.get("/api/health", (c) => c.json({ ok: true }));
  app.all("/api/*", (c) => c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  app.get("*", staticHandler(o.uiDir));
  return app;
}
