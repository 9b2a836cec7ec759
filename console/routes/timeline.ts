// The timeline: filtered, paginated queries and the live SSE stream.
import type { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { access } from "../access.ts";
import { badRequest, shown } from "../errors.ts";
import type { BusMessage } from "../timeline.ts";
import { runView } from "../views.ts";
import { intParam, me, timeParam, type ApiOptions, type Env } from "./kit.ts";

export function timelineRoutes(app: Hono<Env>, o: ApiOptions): void {
  const { store, bus } = o;
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
      const pending: BusMessage[] = [];
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
}
