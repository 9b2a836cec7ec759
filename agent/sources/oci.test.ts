// OCI sources against a real registry (Debian's docker-registry, started here), and a lying
// registry (Bun.serve) whose blob does not match its descriptor: a digest that does not match is
// refused with both digests.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { registryAvailable, startRegistry, type Registry } from "../../test/support/registry.ts";
import { SourceError } from "./errors.ts";
import { ociGet, parseOciUrl } from "./oci.ts";

const IRIS = new TextEncoder().encode("sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,setosa\n");
const opts = { maxBytes: 1 << 20, idleTimeoutMs: 5000 };
let reg: Registry | null = null;
let pushed: { manifestDigest: string; layerDigests: string[] };

function sink() {
  const parts: Uint8Array[] = [];
  return { bytes: () => Buffer.concat(parts), write: async (c: Uint8Array) => void parts.push(c) };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e) => e);
  expect(err).toBeInstanceOf(SourceError);
  return (err as Error).message;
}

beforeAll(async () => {
  if (!registryAvailable()) return;
  reg = await startRegistry();
  pushed = await reg.push("datasets/iris", "v1", [{ bytes: IRIS, title: "iris.csv" }]);
  await reg.push("datasets/two", "v1", [{ bytes: IRIS, title: "a.csv" }, { bytes: new TextEncoder().encode("b"), title: "b.csv" }]);
});

afterAll(async () => {
  await reg?.stop();
});

test("references parse as registry, repository and digest or tag", () => {
  const d = "sha256:" + "a".repeat(64);
  expect(parseOciUrl(`oci://127.0.0.1:5000/datasets/iris@${d}`)).toEqual({ registry: "127.0.0.1:5000", repository: "datasets/iris", reference: d });
  expect(parseOciUrl("docker://reg.example/iris:v1").reference).toBe("v1");
  expect(parseOciUrl("oci://reg.example:443/iris").reference).toBe("latest");
  expect(() => parseOciUrl("oci://reg.example/iris@sha256:abc")).toThrow("expected sha256: and 64 lowercase hex digits");
  expect(() => parseOciUrl("oci://reg.example/Iris:v1")).toThrow("not a valid repository name");
});

test.skipIf(!registryAvailable())("an artifact is fetched from a real registry by digest and by tag", async () => {
  for (const ref of [`@${pushed.manifestDigest}`, ":v1"]) {
    const s = sink();
    expect(await ociGet(`oci://${reg!.host}/datasets/iris${ref}`, s, opts)).toBe(IRIS.byteLength);
    expect(s.bytes().equals(Buffer.from(IRIS))).toBe(true);
  }
});

test.skipIf(!registryAvailable())("a multi-layer artifact yields the layer titled with the dataset's filename, else it is refused", async () => {
  const s = sink();
  await ociGet(`oci://${reg!.host}/datasets/two:v1`, s, { ...opts, filename: "a.csv" });
  expect(s.bytes().equals(Buffer.from(IRIS))).toBe(true);
  expect(await refusal(ociGet(`oci://${reg!.host}/datasets/two:v1`, sink(), { ...opts, filename: "c.csv" }))).toContain('expected one layer, or one titled "c.csv"');
});

test.skipIf(!registryAvailable())("a reference with a wrong digest is refused; so is an unknown tag, and a layer over the limit", async () => {
  const wrong = "sha256:" + "0".repeat(64);
  const m = await refusal(ociGet(`oci://${reg!.host}/datasets/iris@${wrong}`, sink(), opts));
  expect(m).toContain("expected HTTP 200, received 404");
  expect(await refusal(ociGet(`oci://${reg!.host}/datasets/iris:nope`, sink(), opts))).toContain("received 404");
  expect(await refusal(ociGet(`oci://${reg!.host}/datasets/iris:v1`, sink(), { ...opts, maxBytes: 10 }))).toContain(`expected at most 10 bytes, its layer is ${IRIS.byteLength}`);
});

test("a registry whose manifest or blob does not match the digest is refused with both digests", async () => {
  const sha = (b: Uint8Array | string) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
  const forged = new TextEncoder().encode("sepal_length\n9.9\n");
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", layers: [{ mediaType: "application/octet-stream", digest: sha(IRIS), size: forged.byteLength }] });
  const liar = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const p = new URL(req.url).pathname;
      if (p.includes("/manifests/")) return new Response(manifest, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } });
      if (p.includes("/blobs/")) return new Response(forged);
      return new Response("", { status: 404 });
    },
  });
  try {
    const host = `127.0.0.1:${liar.port}`;
    expect(await refusal(ociGet(`oci://${host}/iris:v1`, sink(), opts))).toContain(`OCI blob digest mismatch for oci://${host}/iris:v1: expected ${sha(IRIS)}, received ${sha(forged)}`);
    const pinned = "sha256:" + "1".repeat(64);
    expect(await refusal(ociGet(`oci://${host}/iris@${pinned}`, sink(), opts))).toContain(`OCI manifest digest mismatch`);
    expect(await refusal(ociGet(`oci://${host}/iris@${pinned}`, sink(), opts))).toContain(`expected ${pinned}, received ${sha(manifest)}`);
  } finally {
    liar.stop(true);
  }
});

test.skipIf(!registryAvailable())("a registry behind a Bearer challenge (as Docker Hub): anonymous token, blob from a CDN host without the token", async () => {
  const seen: { cdnAuth: (string | null)[]; tokenScopes: string[] } = { cdnAuth: [], tokenScopes: [] };
  const cdn = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req) => {
      seen.cdnAuth.push(req.headers.get("authorization"));
      return fetch(`http://${reg!.host}${new URL(req.url).pathname}`);
    },
  });
  let frontPort = 0;
  const front = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req): Promise<Response> {
      const u = new URL(req.url);
      if (u.pathname === "/token") {
        seen.tokenScopes.push(u.searchParams.get("scope") ?? "");
        return Response.json({ token: "anon-pull-token" });
      }
      if (req.headers.get("authorization") !== "Bearer anon-pull-token") {
        return new Response("", { status: 401, headers: { "www-authenticate": `Bearer realm="http://127.0.0.1:${frontPort}/token",service="test-registry",scope="repository:datasets/iris:pull"` } });
      }
      if (u.pathname.includes("/blobs/")) return Response.redirect(`http://127.0.0.1:${cdn.port}${u.pathname}`, 307);
      return fetch(`http://${reg!.host}${u.pathname}`, { headers: { accept: req.headers.get("accept") ?? "" } });
    },
  });
  frontPort = front.port!;
  try {
    const s = sink();
    expect(await ociGet(`oci://127.0.0.1:${front.port}/datasets/iris@${pushed.manifestDigest}`, s, opts)).toBe(IRIS.byteLength);
    expect(s.bytes().equals(Buffer.from(IRIS))).toBe(true);
    expect(seen.tokenScopes).toEqual(["repository:datasets/iris:pull"]);
    expect(seen.cdnAuth).toEqual([null]); // the token stays with the registry
  } finally {
    front.stop(true);
    cdn.stop(true);
  }
});
