// A run's live timeline over SSE: the stored backlog first, then each event as it happens; `run`
// messages (state changes) are passed up so the page refreshes what depends on them.
import { useEffect, useRef, useState } from "preact/hooks";
import type { TimelineEvent } from "../api.ts";
import { Badge } from "../components.tsx";

const KEEP = 500;

export function Timeline({ computationId, runId, onRun }: { computationId: string; runId: string; onRun: () => void }) {
  const [events, setEvents] = useState<TimelineEvent[]>([]);
  const [logs, setLogs] = useState(false);
  const [live, setLive] = useState(false);
  const onRunRef = useRef(onRun);
  onRunRef.current = onRun;
  useEffect(() => {
    setEvents([]);
    const src = new EventSource(`/api/computations/${encodeURIComponent(computationId)}/events/stream?run=${encodeURIComponent(runId)}`);
    src.onopen = () => setLive(true);
    src.onerror = () => setLive(false); // EventSource reconnects by itself, resuming with Last-Event-ID
    src.addEventListener("timeline", (m) => {
      const e = JSON.parse((m as MessageEvent<string>).data) as TimelineEvent;
      setEvents((cur) => (cur.some((x) => x.id === e.id) ? cur : [...cur, e].slice(-KEEP)));
    });
    src.addEventListener("run", () => onRunRef.current());
    return () => src.close();
  }, [computationId, runId]);
  const shown = events.filter((e) => logs || e.kind === "event");
  return (
    <div class="timeline">
      <div class="row">
        <span class={live ? "live on" : "live"}>{live ? "live" : "connecting…"}</span>
        <label class="check"><input type="checkbox" checked={logs} onChange={(e) => setLogs(e.currentTarget.checked)} /> include agent and manager logs</label>
        <span class="muted">{events.length} received</span>
      </div>
      <ol id="timeline">
        {shown.map((e) => (
          <li key={e.id} class={`ev ev-${e.kind}`} data-event={`${e.source}:${e.event_type}/${e.status}`}>
            <time>{new Date(e.time).toLocaleTimeString()}</time>
            <span class="src">{e.source}</span>
            <strong>{e.event_type}</strong>
            {e.kind === "event" ? <Badge status={e.status.toLowerCase()} /> : <span class="muted">{e.level}</span>}
            <span class="details">{e.details}</span>
          </li>
        ))}
      </ol>
    </div>
  );
}
