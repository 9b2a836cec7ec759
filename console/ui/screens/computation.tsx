// One computation: participants (a marker where a key is missing), assets, the manifest preview and
// its hash, runs (Run on a manager, Stop, the policy, the attestation page), the live timeline, and
// the cocos-cli commands each party runs.
import { sha3_256 } from "@noble/hashes/sha3.js";
import { useEffect, useState } from "preact/hooks";
import { api, type AlgoRun, type Asset, type AssetSource, type Detail, type Manager, type Participant, type Role, type Run } from "../api.ts";
import { toHex } from "../attest.ts";
import { Badge, Copyable, ErrorLine, Section, useAction, when } from "../components.tsx";
import { href } from "../router.ts";
import { Timeline } from "./timeline.tsx";

const ROLE_NAMES: Record<Role, string> = { algorithm_provider: "algorithm provider", data_provider: "data provider", result_consumer: "result consumer" };
// The run states with a VM up (console/store.ts ACTIVE_RUN_STATES; store.ts is server code).
const ACTIVE = ["starting", "running", "results_ready", "stopping"];

export function ComputationPage({ id }: { id: string }) {
  const [d, setD] = useState<Detail | null>(null);
  const [error, run] = useAction();
  const load = () => run(async () => setD(await api<Detail>("GET", `/api/computations/${encodeURIComponent(id)}`)));
  useEffect(() => void load(), [id]);
  if (!d) return <main><ErrorLine error={error} />{error ? null : <p class="muted">Loading…</p>}</main>;
  const latest = d.runs[0];
  return (
    <main>
      <p><a href={href.computations()}>← Computations</a></p>
      <h1>{d.computation.name} <Badge status={d.computation.status} /></h1>
      <p class="muted">{d.computation.description}</p>
      <p class="muted small-text">id <code>{d.computation.id}</code> · attested TLS {d.computation.attested_tls ? "on" : "off"}</p>
      <ErrorLine error={error} />
      <div class="grid">
        <Participants d={d} reload={load} />
        <Assets d={d} reload={load} />
      </div>
      <ManifestCard d={d} />
      <Runs d={d} reload={load} />
      {latest ? (
        <Section title="Timeline" id="timeline-card">
          <p class="muted small-text">Run <code>{latest.id}</code></p>
          <Timeline computationId={d.computation.id} runId={latest.id} onRun={() => void load()} />
        </Section>
      ) : null}
      <CliCard d={d} />
    </main>
  );
}

function Participants({ d, reload }: { d: Detail; reload: () => Promise<void> }) {
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<Role>("data_provider");
  const [key, setKey] = useState("");
  const [error, run, busy] = useAction();
  const cid = encodeURIComponent(d.computation.id);
  const add = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await api("POST", `/api/computations/${cid}/participants`, { username, role });
      setUsername("");
      await reload();
    });
  };
  const upload = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await api("PUT", `/api/computations/${cid}/participants/${d.my_participation!.id}/key`, { public_key: key });
      setKey("");
      await reload();
    });
  };
  const pickKey = async (e: Event) => {
    const f = (e.currentTarget as HTMLInputElement).files?.[0];
    if (f) setKey(await f.text());
  };
  return (
    <Section title="Participants">
      <table class="list" id="participants">
        <thead><tr><th>User</th><th>Role</th><th>Public key</th></tr></thead>
        <tbody>
          {d.participants.map((p: Participant) => (
            <tr key={p.id} data-user={p.username}>
              <td>{p.username}{p.id === d.my_participation?.id ? <span class="muted"> (you)</span> : null}</td>
              <td>{ROLE_NAMES[p.role]}</td>
              <td>{p.has_key ? <span class="ok">✓ uploaded</span> : <span class="missing" title="this participant has not uploaded a public key">⚠ missing</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {d.computation.is_owner ? (
        <form class="inline-form" id="add-participant" onSubmit={add}>
          <label>User name<input name="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required /></label>
          <label>Role
            <select name="role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
              {(Object.keys(ROLE_NAMES) as Role[]).map((r) => <option value={r}>{ROLE_NAMES[r]}</option>)}
            </select>
          </label>
          <button type="submit" disabled={busy}>Add</button>
        </form>
      ) : null}
      {d.my_participation ? (
        <form id="upload-key" onSubmit={upload}>
          <label>Your public key (PEM, from <code>cocos-cli keys</code>: public.pem)
            <textarea name="public_key" rows={3} value={key} onInput={(e) => setKey(e.currentTarget.value)} placeholder="-----BEGIN PUBLIC KEY-----" required />
          </label>
          <div class="row"><input type="file" accept=".pem,.pub" onChange={pickKey} /><button type="submit" disabled={busy}>{d.my_participation.has_key ? "Replace my key" : "Upload my key"}</button></div>
        </form>
      ) : null}
      <ErrorLine error={error} />
    </Section>
  );
}

const CLEAR: AssetSource = { source_url: "", encrypted: false, kbs_resource_path: "", kbs_url: "" };
/** Only what the API accepts: a path and a KBS URL belong to an encrypted asset. */
const sourceBody = (s: AssetSource): AssetSource => (s.encrypted ? s : { ...s, kbs_resource_path: "", kbs_url: "" });

/** Where the agent gets the asset: an upload (the default) or a remote URL; sealed with a KBS key or not. */
function SourceFields({ value, onChange }: { value: AssetSource; onChange: (s: AssetSource) => void }) {
  const set = (patch: Partial<AssetSource>) => onChange({ ...value, ...patch });
  return (
    <div class="inline-form source-fields">
      <label class="grow">Remote source (optional)<input name="source_url" value={value.source_url} placeholder="https://… or oci://… (empty: uploaded)" onInput={(e) => set({ source_url: e.currentTarget.value })} /></label>
      <label><input type="checkbox" name="encrypted" checked={value.encrypted} onChange={(e) => set({ encrypted: e.currentTarget.checked })} /> encrypted</label>
      {value.encrypted ? (
        <>
          <label>KBS key path<input name="kbs_resource_path" value={value.kbs_resource_path} placeholder="default/key/iris" pattern="[A-Za-z0-9._\-]+/[A-Za-z0-9._\-]+/[A-Za-z0-9._\-]+" onInput={(e) => set({ kbs_resource_path: e.currentTarget.value })} required /></label>
          <label>KBS URL<input name="kbs_url" value={value.kbs_url} placeholder="this console" onInput={(e) => set({ kbs_url: e.currentTarget.value })} /></label>
        </>
      ) : null}
    </div>
  );
}

const NO_ALGO_RUN: AlgoRun = { algo_type: "", algo_args: [] };
const ALGO_TYPES = ["wasm", "bin", "python", "docker"];

/** How the algorithm runs: its type (the guest image and runtime it needs) and its arguments, one per line. */
function AlgoFields({ value, onChange }: { value: AlgoRun; onChange: (r: AlgoRun) => void }) {
  return (
    <div class="inline-form algo-fields">
      <label>Algorithm type<select name="algo_type" value={value.algo_type} onChange={(e) => onChange({ ...value, algo_type: e.currentTarget.value })}>
        <option value="">not in the manifest</option>
        {ALGO_TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
      </select></label>
      <label class="grow">Arguments (one per line)<textarea name="algo_args" rows={2} value={value.algo_args.join("\n")} onInput={(e) => onChange({ ...value, algo_args: e.currentTarget.value === "" ? [] : e.currentTarget.value.split("\n") })} /></label>
    </div>
  );
}

function algoText(a: Asset): string {
  if (a.kind !== "algorithm" || (!a.algo_type && a.algo_args.length === 0)) return "";
  return ` · ${a.algo_type || "type not set"}${a.algo_args.length ? ` ${a.algo_args.join(" ")}` : ""}`;
}

function sourceText(a: Asset): string {
  const where = a.source_url || "upload";
  return (a.encrypted ? `${where} · encrypted, key ${a.kbs_resource_path} from ${a.kbs_url || "this console's KBS"}` : where) + algoText(a);
}

/** One asset's row; its owner or provider edits its source in place (no run active). */
function AssetRow({ a, d, provider, reload }: { a: Asset; d: Detail; provider: string; reload: () => Promise<void> }) {
  const [editing, setEditing] = useState<AssetSource | null>(null);
  const [algoRun, setAlgoRun] = useState<AlgoRun>(NO_ALGO_RUN);
  const [error, run, busy] = useAction();
  const base = `/api/computations/${encodeURIComponent(d.computation.id)}/assets/${a.id}`;
  const edit = () => {
    setEditing({ source_url: a.source_url, encrypted: a.encrypted, kbs_resource_path: a.kbs_resource_path, kbs_url: a.kbs_url });
    setAlgoRun({ algo_type: a.algo_type, algo_args: a.algo_args });
  };
  const mayEdit = d.computation.is_owner || a.provider_id === d.my_participation?.id;
  const save = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await api("PUT", `${base}/source`, sourceBody(editing!));
      if (a.kind === "algorithm") await api("PUT", `${base}/algo`, algoRun);
      setEditing(null);
      await reload();
    });
  };
  return (
    <>
      <tr data-asset={a.filename}>
        <td>{a.kind}</td><td>{a.filename}</td><td><code class="hash">{a.sha3_256}</code></td><td>{provider}</td>
        <td class="asset-source small-text">{sourceText(a)}</td>
        <td class="actions">{mayEdit && !editing ? <button class="small edit-source" onClick={edit}>Edit source</button> : null}</td>
      </tr>
      {editing ? (
        <tr><td colSpan={6}>
          <form class="edit-source-form" onSubmit={save}>
            <SourceFields value={editing} onChange={setEditing} />
            {a.kind === "algorithm" ? <AlgoFields value={algoRun} onChange={setAlgoRun} /> : null}
            <div class="row"><button type="submit" disabled={busy}>Save source</button><button type="button" onClick={() => setEditing(null)}>Cancel</button></div>
            <ErrorLine error={error} />
          </form>
        </td></tr>
      ) : null}
    </>
  );
}

function Assets({ d, reload }: { d: Detail; reload: () => Promise<void> }) {
  const mine = d.my_participation;
  const kind = mine?.role === "algorithm_provider" ? "algorithm" : mine?.role === "data_provider" ? "dataset" : null;
  const [filename, setFilename] = useState("");
  const [sha, setSha] = useState("");
  const [source, setSource] = useState<AssetSource>(CLEAR);
  const [algoRun, setAlgoRun] = useState<AlgoRun>(NO_ALGO_RUN);
  const [error, run, busy] = useAction();
  const byId = new Map(d.participants.map((p) => [p.id, p.username]));
  // The file never leaves the browser: only its name and SHA3-256 are registered.
  const pick = async (e: Event) => {
    const f = (e.currentTarget as HTMLInputElement).files?.[0];
    if (!f) return;
    setFilename(f.name);
    setSha(toHex(sha3_256(new Uint8Array(await f.arrayBuffer()))));
  };
  const register = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await api("POST", `/api/computations/${encodeURIComponent(d.computation.id)}/assets`, { kind, filename, sha3_256: sha, ...sourceBody(source), ...(kind === "algorithm" ? algoRun : {}) });
      setFilename("");
      setSha("");
      setSource(CLEAR);
      setAlgoRun(NO_ALGO_RUN);
      await reload();
    });
  };
  return (
    <Section title="Assets">
      {d.assets.length === 0 ? <p class="muted">No algorithm or dataset registered yet.</p> : (
        <table class="list" id="assets">
          <thead><tr><th>Kind</th><th>File</th><th>SHA3-256</th><th>Provider</th><th>Source</th><th></th></tr></thead>
          <tbody>
            {d.assets.map((a) => <AssetRow key={a.id} a={a} d={d} provider={byId.get(a.provider_id) ?? "—"} reload={reload} />)}
          </tbody>
        </table>
      )}
      {kind ? (
        <form id="register-asset" onSubmit={register}>
          <p class="muted small-text">Register your {kind} by name and SHA3-256; pick the file to hash it here (it is not uploaded). Encrypted: the SHA3-256 of the plaintext; the agent gets the key from the KBS after attestation.</p>
          <input type="file" name="file" onChange={pick} />
          <div class="inline-form">
            <label>File name<input name="filename" value={filename} onInput={(e) => setFilename(e.currentTarget.value)} required /></label>
            <label class="grow">SHA3-256<input name="sha3_256" value={sha} onInput={(e) => setSha(e.currentTarget.value)} pattern="[0-9a-fA-F]{64}" required /></label>
            <button type="submit" disabled={busy}>Register {kind}</button>
          </div>
          <SourceFields value={source} onChange={setSource} />
          {kind === "algorithm" ? <AlgoFields value={algoRun} onChange={setAlgoRun} /> : null}
        </form>
      ) : null}
      <ErrorLine error={error} />
    </Section>
  );
}

function ManifestCard({ d }: { d: Detail }) {
  const m = d.manifest;
  return (
    <Section title="Manifest" id="manifest">
      {m.json ? (
        <>
          <p>SHA3-256 (the VM's host_data; <code>cocos-cli checksum --manifest</code>): <code class="hash" id="manifest-hash">{m.sha3_256}</code></p>
          <details><summary>Preview the manifest JSON</summary><pre class="json">{JSON.stringify(JSON.parse(m.json), null, 2)}</pre></details>
        </>
      ) : (
        <>
          <p class="missing">Not complete yet:</p>
          <ul id="manifest-missing">{m.missing.map((x) => <li>{x}</li>)}</ul>
        </>
      )}
    </Section>
  );
}

function Runs({ d, reload }: { d: Detail; reload: () => Promise<void> }) {
  const [managers, setManagers] = useState<Manager[]>([]);
  const [picked, setPicked] = useState("");
  const [error, run, busy] = useAction();
  useEffect(() => {
    void api<{ managers: Manager[] }>("GET", "/api/managers").then((r) => {
      setManagers(r.managers);
      setPicked((cur) => cur || (r.managers.find((m) => m.connected)?.id ?? ""));
    }, () => {});
  }, [d.runs[0]?.state]);
  const latest: Run | undefined = d.runs[0];
  const active = latest && ACTIVE.includes(latest.state);
  const start = () => run(async () => {
    await api("POST", `/api/computations/${encodeURIComponent(d.computation.id)}/runs`, { manager_id: picked });
    await reload();
  });
  const stop = () => run(async () => {
    await api("POST", `/api/runs/${encodeURIComponent(latest!.id)}/stop`);
    await reload();
  });
  return (
    <Section title="Runs" id="runs">
      {d.computation.is_owner ? (
        <div class="row">
          <label>Manager
            <select id="manager-picker" value={picked} onChange={(e) => setPicked(e.currentTarget.value)}>
              {managers.length === 0 ? <option value="">no manager registered</option> : null}
              {managers.map((m) => <option value={m.id} disabled={!m.connected}>{m.id}{m.connected ? "" : " (offline)"}</option>)}
            </select>
          </label>
          <button id="run" disabled={busy || !picked || !d.manifest.json || !!active} onClick={() => void start()}>Run</button>
          {active ? <button id="stop" class="danger" disabled={busy} onClick={() => void stop()}>Stop</button> : null}
        </div>
      ) : null}
      <ErrorLine error={error} />
      {latest ? (
        <table class="list" id="run-list">
          <thead><tr><th>Run</th><th>State</th><th>Manager</th><th>Agent</th><th>Started</th><th></th></tr></thead>
          <tbody>
            {d.runs.slice(0, 5).map((r) => (
              <tr key={r.id} data-run={r.id}>
                <td><code>{r.id}</code>{r.error ? <div class="error small-text">{r.error}</div> : null}</td>
                <td><Badge status={r.state} /></td>
                <td>{r.manager_id}</td>
                <td><code class="agent-address">{r.agent_address ?? "—"}</code></td>
                <td>{when(r.created_at)}</td>
                <td class="actions">
                  {r.has_policy ? <a class="button small" href={`/api/runs/${encodeURIComponent(r.id)}/policy`} download={`${d.computation.id}.policy.json`}>Policy</a> : null}
                  {r.agent_address && ["running", "results_ready"].includes(r.state) ? <a class="button small" id={r === latest ? "attest-link" : undefined} href={href.attestation(r.id)}>Verify attestation</a> : null}
                  {r.agent_address && r.state === "running" && d.my_participation?.role === "data_provider" ? <a class="button small upload-link" href={href.upload(r.id)}>Upload dataset (encrypted)</a> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : <p class="muted">Not run yet.</p>}
    </Section>
  );
}

function CliCard({ d }: { d: Detail }) {
  const c = d.cli;
  const mine = d.my_participation?.role;
  const block = (role: Role, cmds: string[]) => (
    <div class={mine === role ? "cli-role mine" : "cli-role"} data-role={role}>
      <h3>{ROLE_NAMES[role]}{mine === role ? " (you)" : ""}</h3>
      {cmds.length ? cmds.map((x) => <Copyable text={x} />) : <p class="muted">nothing to run yet</p>}
    </div>
  );
  return (
    <Section title="What each party runs" id="cli">
      <p class="muted small-text">
        Each party runs <code>cocos-cli</code> with their own private key{c.policy_file ? <>, after downloading the run's policy to <code>{c.policy_file}</code> (the Policy button, or <code>GET {c.policy_download ?? "/api/runs/<run>/policy"}</code>)</> : null}.
      </p>
      {block("algorithm_provider", c.algorithm_provider)}
      {block("data_provider", c.data_provider)}
      {block("result_consumer", c.result_consumer)}
    </Section>
  );
}
