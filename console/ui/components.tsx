// Small shared pieces: status badges, copyable command blocks, error lines, time formatting.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";

export function Badge({ status }: { status: string }) {
  return <span class={`badge badge-${status.replace(/[^a-z_]/g, "")}`}>{status.replace(/_/g, " ")}</span>;
}

export function ErrorLine({ error }: { error: string | null }) {
  return error ? <p class="error" role="alert">{error}</p> : null;
}

/** A command (or any text) to copy: shown as typed, with a Copy button. */
export function Copyable({ text, label }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div class="copyable">
      {label ? <div class="copy-label">{label}</div> : null}
      <pre class="cmd">{text}</pre>
      <button type="button" class="small" onClick={copy}>{copied ? "Copied" : "Copy"}</button>
    </div>
  );
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" id={id}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export const when = (ms: number | null | undefined) => (ms ? new Date(ms).toLocaleString() : "—");

export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${r}s` : `${r}s`;
}

/** Runs an async action, keeping its error message for display. */
export function useAction(): [string | null, (fn: () => Promise<unknown>) => Promise<void>, boolean] {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (fn: () => Promise<unknown>) => {
    setError(null);
    setBusy(true);
    try {
      await fn();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return [error, run, busy];
}
