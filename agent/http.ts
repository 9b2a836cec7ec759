// /health and /metrics on hono + Bun.serve.
import { Hono } from "hono";
import type { Metrics } from "./metrics.ts";

export interface HttpInfo {
  state(): string;
  computationId(): string;
}

export function httpApp(metrics: Metrics, info: HttpInfo): Hono {
  const app = new Hono();
  app.get("/health", (c) => c.json({ status: "pass", service: "cocos-agent", state: info.state(), computation_id: info.computationId() }));
  app.get("/metrics", (c) => c.text(metrics.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }));
  return app;
}

/** idleTimeoutMs: a connection with no traffic that long is closed (Bun.serve: whole seconds, 1..255). */
export function serveHttp(app: Hono, host: string, port: number, idleTimeoutMs: number): ReturnType<typeof Bun.serve> {
  const idleTimeout = Math.min(255, Math.max(1, Math.ceil(idleTimeoutMs / 1000)));
  return Bun.serve({ hostname: host, port, fetch: app.fetch, idleTimeout });
}
