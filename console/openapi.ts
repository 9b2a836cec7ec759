// The OpenAPI 3.1 document of the console's API (served at /openapi.json). Kept as a route table:
// one line per operation, the request body's fields and the success status.
type Op = [method: string, path: string, summary: string, body?: Record<string, string>, status?: number];

const OPS: Op[] = [
  ["post", "/api/auth/register", "Register (the first user becomes the admin); sets the session cookie", { username: "string", password: "string" }, 201],
  ["post", "/api/auth/login", "Log in; sets an HttpOnly SameSite=Strict session cookie", { username: "string", password: "string" }],
  ["post", "/api/auth/token", "Log in for scripts: returns a bearer token", { username: "string", password: "string", name: "string" }, 201],
  ["post", "/api/auth/logout", "End the session", undefined, 204],
  ["get", "/api/me", "The logged-in user"],
  ["get", "/api/computations", "Computations the user owns or takes part in, with status"],
  ["post", "/api/computations", "Create a computation", { name: "string", description: "string", signatures: "string", attested_tls: "boolean", agent_port: "string", log_level: "string" }, 201],
  ["get", "/api/computations/{id}", "Detail: participants, assets, manifest preview and hash, runs, CLI commands"],
  ["patch", "/api/computations/{id}", "Edit (owner; no active run)", { name: "string", description: "string", signatures: "string", attested_tls: "boolean", agent_port: "string", log_level: "string" }],
  ["delete", "/api/computations/{id}", "Delete (owner; no active run)", undefined, 204],
  ["get", "/api/computations/{id}/manifest", "Manifest preview: canonical JSON and SHA3-256 (as cocos-cli checksum --manifest), or what is missing"],
  ["post", "/api/computations/{id}/participants", "Add a participant (owner)", { username: "string", role: "string" }, 201],
  ["patch", "/api/computations/{id}/participants/{pid}", "Change a participant's role (owner)", { role: "string" }],
  ["delete", "/api/computations/{id}/participants/{pid}", "Remove a participant (owner)", undefined, 204],
  ["put", "/api/computations/{id}/participants/{pid}/key", "Upload one's own public key (PEM: RSA, ECDSA P-256, Ed25519)", { public_key: "string" }],
  ["post", "/api/computations/{id}/assets", "Register an asset by SHA3-256 and file name (never content); optionally a remote source and sealed (encrypted) with its KBS key path; an algorithm's algo_type (wasm|bin|python|docker) and algo_args", { kind: "string", filename: "string", sha3_256: "string", provider_id: "integer", description: "string", source_url: "string", encrypted: "boolean", kbs_resource_path: "string", kbs_url: "string", algo_type: "string", algo_args: "array" }, 201],
  ["put", "/api/computations/{id}/assets/{aid}/source", "Replace an asset's source: remote URL, encrypted, KBS resource path and URL (owner or its provider)", { source_url: "string", encrypted: "boolean", kbs_resource_path: "string", kbs_url: "string" }],
  ["put", "/api/computations/{id}/assets/{aid}/algo", "Replace the algorithm's algo_type (wasm|bin|python|docker, or none) and algo_args (owner or its provider)", { algo_type: "string", algo_args: "array" }],
  ["delete", "/api/computations/{id}/assets/{aid}", "Remove an asset (owner or its provider)", undefined, 204],
  ["get", "/api/computations/{id}/export", "Export as JSON (owner)"],
  ["post", "/api/computations/import/preview", "What an import would create, with warnings", { format: "string" }],
  ["post", "/api/computations/import", "Import an exported computation", { format: "string" }, 201],
  ["post", "/api/computations/{id}/runs", "Start a run on a connected manager (owner)", { manager_id: "string" }, 201],
  ["get", "/api/computations/{id}/runs", "Runs of a computation"],
  ["get", "/api/runs/{id}", "A run: state, agent address, CLI commands"],
  ["post", "/api/runs/{id}/stop", "Stop a run (owner)", undefined, 202],
  ["post", "/api/runs/{id}/attestation", "The agent's evidence for the caller's nonce (report data), relayed raw as base64, with the run's policy", { nonce: "string" }],
  ["post", "/api/runs/{id}/upload-key", "The agent's upload-key evidence for the caller's nonce (report data binds nonce, upload public key, TLS SPKI hash), relayed raw, with the key, the SPKI hash, the manifest and the policy", { nonce: "string" }],
  ["post", "/api/runs/{id}/uploads/dataset", "Relays a sealed dataset (body: ciphertext; query filename; headers cocos-md-<metadata> incl. cocos-md-cocos-sealed-key and the v2 signature) to the agent's Data RPC"],
  ["get", "/api/runs/{id}/policy", "The run's attestation policy (from the manager) for cocos-cli"],
  ["get", "/api/computations/{id}/kbs", "The computation's KBS resources: paths and policies, never a secret"],
  ["get", "/api/computations/{id}/kbs/{repo}/{type}/{tag}", "One KBS resource's policy (never its secret)"],
  ["put", "/api/computations/{id}/kbs/{repo}/{type}/{tag}", "Store a key in the console's KBS (owner); policy defaults to the latest run's; host_data is bound to the manifest at each release", { secret: "string", policy: "object", measurement: "string" }],
  ["delete", "/api/computations/{id}/kbs/{repo}/{type}/{tag}", "Delete a KBS resource (owner)", undefined, 204],
  ["get", "/api/computations/{id}/events", "Timeline; query: run, source, status, kind (event|log), from, to, after, limit"],
  ["get", "/api/computations/{id}/events/stream", "Timeline as server-sent events (timeline, run, ping); query: run, after; Last-Event-ID honoured"],
  ["get", "/api/managers", "Managers with connection state and their VMs"],
  ["post", "/api/managers", "Register a manager (admin); returns its token once", { id: "string", description: "string", agent_host: "string" }, 201],
  ["delete", "/api/managers/{id}", "Remove a manager with no runs (admin)", undefined, 204],
];

const ERROR = {
  description: "Error",
  content: { "application/json": { schema: { type: "object", properties: { error: { type: "object", properties: { code: { type: "string" }, message: { type: "string" } }, required: ["code", "message"] } } } } },
};

export function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [method, path, summary, body, status = 200] of OPS) {
    const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    (paths[path] ??= {})[method] = {
      summary,
      ...(params.length ? { parameters: params } : {}),
      ...(body ? { requestBody: { required: true, content: { "application/json": { schema: { type: "object", properties: Object.fromEntries(Object.entries(body).map(([k, t]) => [k, { type: t }])) } } } } } : {}),
      responses: { [String(status)]: { description: "OK" }, "4XX": ERROR },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Cocos console API", version: "1" },
    components: {
      securitySchemes: {
        cookie: { type: "apiKey", in: "cookie", name: "cocos_session", description: "state-changing requests also need the header X-Cocos-CSRF: 1" },
        bearer: { type: "http", scheme: "bearer" },
      },
    },
    security: [{ cookie: [] }, { bearer: [] }],
    paths,
  };
}
