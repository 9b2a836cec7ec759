// The console API from the browser: cookie session, the CSRF header and a JSON body on every state
// change (console/README.md), errors as {error: {code, message}} turned into ApiError.
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export const UNAUTHORIZED = "cocos:unauthorized";

export async function api<T = any>(method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE", path: string, body?: unknown): Promise<T> {
  const change = method !== "GET";
  const headers: Record<string, string> = change ? { "x-cocos-csrf": "1", "content-type": "application/json" } : {};
  const r = await fetch(path, { method, headers, credentials: "same-origin", body: change ? JSON.stringify(body ?? {}) : undefined });
  const text = await r.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  // An expired or revoked session: the app goes back to the login screen (main.tsx listens).
  if (r.status === 401 && !path.startsWith("/api/auth/")) dispatchEvent(new Event(UNAUTHORIZED));
  if (!r.ok) throw new ApiError(r.status, data?.error?.code ?? "http_error", data?.error?.message ?? `HTTP ${r.status}`);
  return data as T;
}

// Shapes the views return (console/views.ts), as far as the UI reads them.
export interface User { id: number; username: string; is_admin: boolean }
export interface Participant { id: number; user_id: number; username: string; role: Role; public_key: string | null; has_key: boolean }
export type Role = "algorithm_provider" | "data_provider" | "result_consumer";
/** Where the agent gets an asset and whether it is sealed (console/store.ts AssetSource). */
export interface AssetSource { source_url: string; encrypted: boolean; kbs_resource_path: string; kbs_url: string }
/** How the algorithm runs (console/store.ts AlgoRun): '' and [] = not in the manifest. */
export interface AlgoRun { algo_type: string; algo_args: string[] }
export interface Asset extends AssetSource, AlgoRun { id: number; kind: "algorithm" | "dataset"; filename: string; sha3_256: string; provider_id: number; description: string }
export interface Computation { id: string; name: string; description: string; status: string; is_owner?: boolean; created_at: number; attested_tls: boolean }
export interface Run {
  id: string; computation_id: string; manager_id: string; state: string; manifest_sha3_256: string; agent_address: string | null;
  error: string | null; has_policy: boolean; created_at: number; updated_at: number; ended_at: number | null;
}
export interface Cli {
  env: Record<string, string>; policy_file: string | null; policy_download: string | null;
  algorithm_provider: string[]; data_provider: string[]; result_consumer: string[];
}
export interface Detail {
  computation: Computation; my_participation: Participant | null; participants: Participant[]; assets: Asset[];
  manifest: { json: string | null; sha3_256: string | null; missing: string[] }; runs: Run[]; cli: Cli;
}
export interface TimelineEvent { id: number; time: number; run_id: string | null; source: string; kind: "event" | "log"; event_type: string; status: string; level: string; details: string }
export interface Vm { run_id: string | null; state: string; started_at: number; uptime_ms: number; computation: { id: string; name: string } | null }
export interface Manager { id: string; description: string; host: string | null; backend: string | null; connected: boolean; last_seen: number | null; vm_count: number; vms: Vm[] }
