// Export a computation as JSON and import one (with a preview first). Participants travel by user
// name and role; keys travel too, but an import keeps only the importer's own key: every other
// party uploads theirs again, so nobody can plant a key in someone else's name. Assets travel by
// checksum and file name, as everywhere in the console (never their content).
import { randomBytes } from "node:crypto";
import { ApiError, shown } from "./errors.ts";
import { bool, oneOf, text } from "./http-guards.ts";
import { checkAlgoRun, checkAssetFilename, checkAssetSource, checkSha3, normalizePublicKey } from "./manifest.ts";
import { ROLES, type AlgoRun, type Asset, type AssetSource, type Computation, type Participant, type Role, type Store, type User } from "./store.ts";

export const EXPORT_FORMAT = "cocos-console.computation/1";

export function exportComputation(c: Computation, participants: Participant[], assets: Asset[]) {
  const byId = new Map(participants.map((p) => [p.id, p.username]));
  return {
    format: EXPORT_FORMAT,
    exported_at: new Date().toISOString(),
    computation: { name: c.name, description: c.description, signatures: c.signatures, attested_tls: c.attested_tls, agent_port: c.agent_port, log_level: c.log_level },
    participants: participants.map((p) => ({ username: p.username, role: p.role, public_key: p.public_key })),
    assets: assets.map((a) => ({
      kind: a.kind, filename: a.filename, sha3_256: a.sha3_256, provider: byId.get(a.provider_id) ?? "", description: a.description,
      source_url: a.source_url, encrypted: a.encrypted, kbs_resource_path: a.kbs_resource_path, kbs_url: a.kbs_url,
      algo_type: a.algo_type, algo_args: a.algo_args,
    })),
  };
}

interface Parsed {
  computation: { name: string; description: string; signatures: string; attested_tls: boolean; agent_port: string; log_level: string };
  participants: { username: string; role: Role; public_key: string | null }[];
  assets: ({ kind: "algorithm" | "dataset"; filename: string; sha3_256: string; provider: string; description: string } & AssetSource & AlgoRun)[];
}

function list(v: unknown, field: string): Record<string, unknown>[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "object" || x === null || Array.isArray(x))) throw new ApiError(400, "invalid_import", `${field}: expected an array of objects, got ${shown(v)}`);
  return v as Record<string, unknown>[];
}

function parse(doc: Record<string, unknown>): Parsed {
  if (doc.format !== EXPORT_FORMAT) throw new ApiError(400, "invalid_import", `format: expected ${JSON.stringify(EXPORT_FORMAT)}, got ${shown(doc.format)}`);
  const c = doc.computation;
  if (typeof c !== "object" || c === null || Array.isArray(c)) throw new ApiError(400, "invalid_import", `computation: expected an object, got ${shown(c)}`);
  const cb = c as Record<string, unknown>;
  const computation = {
    name: text(cb, "name", { max: 200, min: 1 }),
    description: text(cb, "description", { max: 4000, dflt: "", multiline: true }),
    signatures: oneOf(cb, "signatures", ["v2-only", "v2", "v1"] as const, "v2-only"),
    attested_tls: bool(cb, "attested_tls", true),
    agent_port: text(cb, "agent_port", { max: 5, dflt: "7002" }),
    log_level: oneOf(cb, "log_level", ["debug", "info", "warn", "error"] as const, "info"),
  };
  if (!/^\d{1,5}$/.test(computation.agent_port)) throw new ApiError(400, "invalid_import", `computation.agent_port: expected a port, got ${shown(computation.agent_port)}`);
  const participants = list(doc.participants, "participants").map((p, i) => ({
    username: text(p, "username", { max: 64, min: 1 }),
    role: oneOf(p, "role", ROLES),
    public_key: p.public_key === null || p.public_key === undefined ? null : normalizePublicKey(p.public_key, `participants[${i}].public_key`).pem,
  }));
  const names = new Set<string>();
  const assets = list(doc.assets, "assets").map((a, i) => {
    const filename = checkAssetFilename(a.filename);
    if (names.has(filename)) throw new ApiError(400, "invalid_import", `assets[${i}].filename: ${shown(filename)} appears twice (file names are unique)`);
    names.add(filename);
    const kind = oneOf(a, "kind", ["algorithm", "dataset"] as const);
    return { kind, filename, sha3_256: checkSha3(a.sha3_256, `assets[${i}].sha3_256`), provider: text(a, "provider", { max: 64, min: 1 }), description: text(a, "description", { max: 2000, dflt: "", multiline: true }), ...checkAssetSource(a, `assets[${i}].`), ...checkAlgoRun(a, kind, `assets[${i}].`) };
  });
  if (assets.filter((a) => a.kind === "algorithm").length > 1) throw new ApiError(400, "invalid_import", "assets: at most one algorithm");
  return { computation, participants, assets };
}

/** What an import would create, and what it would leave out (unknown users, keys others must upload). */
export async function previewImport(store: Store, importer: User, doc: Record<string, unknown>) {
  const p = parse(doc);
  const warnings: string[] = [];
  const participants = [];
  for (const x of p.participants) {
    const u = await store.userByName(x.username);
    const keep = !!u && u.id === importer.id && x.public_key !== null;
    if (!u) warnings.push(`user ${x.username} does not exist: they are left out (and so are their assets)`);
    else if (x.public_key && !keep) warnings.push(`${x.username}'s key is not imported: they upload it themselves`);
    participants.push({ username: x.username, role: x.role, exists: !!u, key_imported: keep });
  }
  const known = new Set(participants.filter((x) => x.exists).map((x) => x.username));
  const assets = p.assets.map((a) => ({ ...a, imported: known.has(a.provider) && p.participants.some((x) => x.username === a.provider && x.role === (a.kind === "algorithm" ? "algorithm_provider" : "data_provider")) }));
  for (const a of assets) if (!a.imported) warnings.push(`asset ${a.filename} is left out: its provider ${a.provider} is not a participant with the right role here`);
  return { computation: p.computation, participants, assets, warnings };
}

export async function importComputation(store: Store, importer: User, doc: Record<string, unknown>): Promise<Computation> {
  const preview = await previewImport(store, importer, doc);
  const p = parse(doc);
  const now = Date.now();
  const c = await store.createComputation({ id: `c${randomBytes(12).toString("hex")}`, owner_id: importer.id, ...preview.computation, created_at: now, updated_at: now });
  try {
    const ids = new Map<string, number>();
    for (const [i, x] of preview.participants.entries()) {
      if (!x.exists) continue;
      const u = (await store.userByName(x.username))!;
      const part = await store.addParticipant(c.id, u.id, x.role, x.key_imported ? p.participants[i]!.public_key : null);
      ids.set(x.username, part.id);
    }
    for (const a of preview.assets) {
      if (!a.imported) continue;
      const { imported: _, provider, ...fields } = a;
      await store.addAsset({ ...fields, computation_id: c.id, provider_id: ids.get(provider)! });
    }
  } catch (e) {
    await store.deleteComputation(c.id);
    throw e;
  }
  return c;
}
