// What the API returns for each stored thing: no password or token hashes, agent address resolved,
// the CLI commands each party runs.
import type { ManagerRecord, Participant, Run, Computation, Asset, User } from "./store.ts";

export const userView = (u: User) => ({ id: u.id, username: u.username, is_admin: u.is_admin, created_at: u.created_at });
export const participantView = (p: Participant) => ({ id: p.id, user_id: p.user_id, username: p.username, role: p.role, public_key: p.public_key, has_key: !!p.public_key });
export const assetView = (a: Asset) => ({
  id: a.id, kind: a.kind, filename: a.filename, sha3_256: a.sha3_256, provider_id: a.provider_id, description: a.description,
  source_url: a.source_url, encrypted: a.encrypted, kbs_resource_path: a.kbs_resource_path, kbs_url: a.kbs_url,
  algo_type: a.algo_type, algo_args: a.algo_args, created_at: a.created_at,
});
export const computationView = (c: Computation, status: string | null) => ({
  id: c.id, owner_id: c.owner_id, name: c.name, description: c.description, signatures: c.signatures, attested_tls: c.attested_tls,
  agent_port: c.agent_port, log_level: c.log_level, created_at: c.created_at, updated_at: c.updated_at, status: status ?? "draft",
});

export function agentAddress(r: Run, m: ManagerRecord | null): string | null {
  if (!r.agent_port || !m) return null;
  const host = m.agent_host || m.host || "127.0.0.1";
  return `${host.includes(":") ? `[${host}]` : host}:${r.agent_port}`;
}

/** The asset's declared type, else a guess from its file name (the CLI's `-a`). */
function algoType(a: Asset): string {
  if (a.algo_type) return a.algo_type;
  if (a.filename.endsWith(".wasm")) return "wasm";
  if (a.filename.endsWith(".py")) return "python";
  return "bin";
}

/** One shell word: left bare when it is plainly safe, else single-quoted (so a copied command passes it unchanged). */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

function algoCommand(prefix: string, a: Asset): string {
  const args = a.algo_args.map((x) => ` --args ${shellWord(x)}`).join("");
  return `${prefix} cocos-cli algo ${a.filename} private.pem -a ${algoType(a)}${args}`;
}

/** The environment and commands each party runs with cocos-cli against this run's agent. */
export function cliCommands(r: Run, address: string | null, c: Computation, assets: Asset[]) {
  const env: Record<string, string> = { AGENT_GRPC_URL: address ?? "<agent address once the run is up>", COCOS_COMPUTATION_ID: c.id };
  if (c.attested_tls) Object.assign(env, { AGENT_GRPC_ATTESTED_TLS: "true", AGENT_GRPC_ATTESTATION_POLICY: `${c.id}.policy.json` });
  const prefix = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ");
  // A remote asset (source_url) is fetched by the agent itself: its provider uploads nothing.
  const algo = assets.find((a) => a.kind === "algorithm" && !a.source_url);
  return {
    env,
    policy_file: c.attested_tls ? `${c.id}.policy.json` : null,
    /** Where the policy file comes from (GET, logged in). */
    policy_download: r.id ? `/api/runs/${r.id}/policy` : null,
    algorithm_provider: algo ? [algoCommand(prefix, algo)] : [],
    data_provider: assets.filter((a) => a.kind === "dataset" && !a.source_url).map((d) => `${prefix} cocos-cli data ${d.filename} private.pem`),
    result_consumer: [`${prefix} cocos-cli result private.pem`],
  };
}

export const runView = (r: Run, m: ManagerRecord | null) => ({
  id: r.id, computation_id: r.computation_id, manager_id: r.manager_id, state: r.state, manifest_sha3_256: r.manifest_hash,
  agent_port: r.agent_port || null, agent_address: agentAddress(r, m), error: r.error || null, has_policy: r.policy !== null,
  started_by: r.started_by, created_at: r.created_at, updated_at: r.updated_at, ended_at: r.ended_at,
});

export const managerView = (m: ManagerRecord, connected: boolean, vms: unknown[]) => ({
  id: m.id, description: m.description, host: m.host || null, agent_host: m.agent_host || null, backend: m.backend || null, connected,
  connected_at: m.connected_at, last_seen: m.last_seen, created_at: m.created_at, vm_count: vms.length, vms,
});
