// Fetches one resource from an OCI registry (distribution API v2): the manifest (by digest or tag),
// then the one blob it names, streamed, its sha256 checked against the descriptor. A digest
// reference also pins the manifest: its bytes must hash to that digest. Loopback registries are
// spoken to over plain http (as Docker treats localhost), every other one over https. A registry that
// answers 401 with a Bearer challenge (Docker Hub, GHCR) gets the anonymous token flow; the blob may
// then come from another host (a CDN), as its digest is checked.
import { SourceError } from "./errors.ts";
import { getFollowing, httpGet, refuseStatus, type ByteSink } from "./http.ts";

export interface OciRef {
  registry: string;
  repository: string;
  /** "sha256:<hex>" or a tag. */
  reference: string;
}

const MANIFEST_TYPES = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"];
const INDEX_TYPES = ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];
const MAX_MANIFEST_BYTES = 4 << 20;
const TITLE = "org.opencontainers.image.title";
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** `oci://host[:port]/repo[/more]@sha256:<hex>` or `…:tag` (also `docker://`, as Cocos writes it). */
export function parseOciUrl(url: string): OciRef {
  const m = /^(?:oci|docker):\/\/([^/]+)\/(.+)$/i.exec(url);
  if (!m) throw new SourceError(`expected oci://registry/repository@sha256:<digest> or :tag, got ${JSON.stringify(url)}`);
  const [, registry, rest] = m as unknown as [string, string, string];
  const at = rest.indexOf("@");
  let repository: string;
  let reference: string;
  if (at >= 0) {
    repository = rest.slice(0, at);
    reference = rest.slice(at + 1);
    if (!DIGEST.test(reference)) throw new SourceError(`OCI digest ${JSON.stringify(reference)}: expected sha256: and 64 lowercase hex digits`);
  } else {
    const colon = rest.lastIndexOf(":");
    repository = colon > rest.lastIndexOf("/") ? rest.slice(0, colon) : rest;
    reference = colon > rest.lastIndexOf("/") ? rest.slice(colon + 1) : "latest";
    if (!/^[\w][\w.-]{0,127}$/.test(reference)) throw new SourceError(`OCI tag ${JSON.stringify(reference)} is not a valid tag`);
  }
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)) {
    throw new SourceError(`OCI repository ${JSON.stringify(repository)} is not a valid repository name`);
  }
  return { registry, repository, reference };
}

function registryBase(registry: string): string {
  return `${isLoopback(registry) ? "http" : "https"}://${registry}`;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

function sha256Hex(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\./.test(h);
}

/** `Bearer realm="…",service="…",scope="…"` → its parameters; null for any other challenge. */
function bearerChallenge(header: string | null): Record<string, string> | null {
  if (!header || !/^bearer\s/i.test(header)) return null;
  const out: Record<string, string> = {};
  for (const m of header.slice(6).matchAll(/(\w+)="([^"]*)"/g)) out[m[1]!.toLowerCase()] = m[2]!;
  return out.realm ? out : null;
}

/** The anonymous pull token a registry's challenge points to. */
async function anonymousToken(ref: OciRef, challenge: Record<string, string>, idleTimeoutMs: number): Promise<string> {
  const realm = new URL(challenge.realm!);
  if (realm.protocol !== "https:" && !isLoopback(realm.host)) throw new SourceError(`registry token realm ${realm.href}: expected https`);
  if (challenge.service) realm.searchParams.set("service", challenge.service);
  realm.searchParams.set("scope", challenge.scope ?? `repository:${ref.repository}:pull`);
  const abort = new AbortController();
  try {
    const res = await getFollowing(realm.href, { idleTimeoutMs }, abort);
    refuseStatus(realm.href, res, "the registry token");
    const body = (await res.json().catch(() => null)) as { token?: unknown; access_token?: unknown } | null;
    const token = body?.token ?? body?.access_token;
    if (typeof token !== "string" || token === "") throw new SourceError(`registry token endpoint ${realm.origin}: expected JSON with a token, received none`);
    return token;
  } finally {
    abort.abort();
  }
}

async function fetchManifest(ref: OciRef, base: string, idleTimeoutMs: number): Promise<{ layers: Descriptor[]; authorization?: string }> {
  const url = `${base}/v2/${ref.repository}/manifests/${ref.reference}`;
  const abort = new AbortController();
  try {
    const headers: Record<string, string> = { accept: [...MANIFEST_TYPES, ...INDEX_TYPES].join(", ") };
    let res = await getFollowing(url, { idleTimeoutMs, headers }, abort);
    const challenge = res.status === 401 ? bearerChallenge(res.headers.get("www-authenticate")) : null;
    if (challenge) {
      await res.body?.cancel().catch(() => {});
      headers.authorization = `Bearer ${await anonymousToken(ref, challenge, idleTimeoutMs)}`;
      res = await getFollowing(url, { idleTimeoutMs, headers }, abort);
    }
    refuseStatus(url, res, "the OCI manifest");
    const body = new Uint8Array(await res.arrayBuffer());
    if (body.byteLength > MAX_MANIFEST_BYTES) throw new SourceError(`OCI manifest at ${url} is ${body.byteLength} bytes: expected at most ${MAX_MANIFEST_BYTES}`);
    if (DIGEST.test(ref.reference)) {
      const got = `sha256:${sha256Hex(body)}`;
      if (got !== ref.reference) throw new SourceError(`OCI manifest digest mismatch at ${url}: expected ${ref.reference}, received ${got}`);
    }
    let doc: { mediaType?: string; layers?: unknown; manifests?: unknown };
    try {
      doc = JSON.parse(new TextDecoder().decode(body));
    } catch {
      throw new SourceError(`OCI manifest at ${url} is not JSON`);
    }
    const type = doc.mediaType ?? res.headers.get("content-type") ?? "";
    if (INDEX_TYPES.includes(type) || Array.isArray(doc.manifests)) {
      throw new SourceError(`OCI reference ${ref.reference} names an index (several platforms): expected an artifact or image manifest; reference one manifest by its digest`);
    }
    if (!Array.isArray(doc.layers)) throw new SourceError(`OCI manifest at ${url} has no layers`);
    const layers = doc.layers.map((l, i) => {
      const d = l as Descriptor;
      if (typeof d?.digest !== "string" || !DIGEST.test(d.digest) || !Number.isSafeInteger(d.size) || d.size < 0) {
        throw new SourceError(`OCI manifest layer ${i}: expected a sha256 digest and a size`);
      }
      return d;
    });
    return { layers, authorization: headers.authorization };
  } finally {
    abort.abort();
  }
}

/** One layer: the only one, or the one titled `filename` (the ORAS convention for several files). */
function pickLayer(layers: Descriptor[], filename: string | undefined, where: string): Descriptor {
  if (layers.length === 1) return layers[0]!;
  const titled = layers.filter((l) => filename && l.annotations?.[TITLE] === filename);
  if (titled.length === 1) return titled[0]!;
  throw new SourceError(
    `${where}: expected one layer, or one titled ${JSON.stringify(filename ?? "")} (${TITLE}), found ${layers.length} layers${titled.length > 1 ? ` (${titled.length} with that title)` : ""}`,
  );
}

export interface OciGetOptions {
  maxBytes: number;
  idleTimeoutMs: number;
  /** Picks the layer of a multi-file artifact. */
  filename?: string;
}

/** Streams the artifact's blob into `sink` after checking the descriptor; returns its size. */
export async function ociGet(url: string, sink: ByteSink, o: OciGetOptions): Promise<number> {
  const ref = parseOciUrl(url);
  const base = registryBase(ref.registry);
  const { layers, authorization } = await fetchManifest(ref, base, o.idleTimeoutMs);
  const layer = pickLayer(layers, o.filename, url);
  if (layer.size > o.maxBytes) throw new SourceError(`${url} exceeds the size limit: expected at most ${o.maxBytes} bytes, its layer is ${layer.size}`);
  const hasher = new Bun.CryptoHasher("sha256");
  const blobUrl = `${base}/v2/${ref.repository}/blobs/${layer.digest}`;
  const n = await httpGet(blobUrl, sink, {
    maxBytes: o.maxBytes,
    idleTimeoutMs: o.idleTimeoutMs,
    expectedBytes: layer.size,
    onChunk: (c) => hasher.update(c),
    headers: authorization ? { authorization } : undefined,
    anyHost: true,
  });
  const got = `sha256:${hasher.digest("hex")}`;
  if (got !== layer.digest) throw new SourceError(`OCI blob digest mismatch for ${url}: expected ${layer.digest}, received ${got}`);
  return n;
}
