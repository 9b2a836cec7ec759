// Cocos v0.10's per-resource `source` and `kbs` fields: parsed, checked, and written back in Go's
// field order so `checksum --manifest` matches Cocos for such manifests too.
import { expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { publicKeyDer } from "./keys.ts";
import { ManifestError, manifestToJSON, parseManifest, parseResourcePath } from "./manifest.ts";

const key = Buffer.from(publicKeyDer(generateKeyPairSync("ed25519").privateKey)).toString("base64");
const hash = Array.from({ length: 32 }, (_, i) => i);

test("a v0.10 resource round-trips in Go struct order (hash, user_key, filename, source, decompress, kbs)", () => {
  const go =
    `{"id":"c1","datasets":[{"hash":[${hash}],"user_key":"${key}","filename":"iris.csv",` +
    `"source":{"type":"https","url":"https://h/x","kbs_resource_path":"default/key/iris","encrypted":true},"decompress":true,"kbs":{"url":"http://kbs:8080","enabled":true}}],` +
    `"algorithm":{"hash":[${hash}],"user_key":"${key}","source":{"kbs_resource_path":"default/key/algo","encrypted":true},"kbs":{"url":"http://kbs:8080","enabled":true}},"agent_config":{}}`;
  const m = parseManifest(go);
  expect(m.datasets[0]!.source).toEqual({ type: "https", url: "https://h/x", kbs_resource_path: "default/key/iris", encrypted: true });
  expect(m.datasets[0]!.kbs).toEqual({ url: "http://kbs:8080", enabled: true });
  expect(manifestToJSON(m)).toBe(go);
});

test("a manifest without the v0.10 fields serialises exactly as before (no empty objects)", () => {
  const m = parseManifest({ datasets: [{ hash, user_key: key, filename: "a" }], algorithm: { hash, user_key: key } });
  expect(manifestToJSON(m)).not.toContain("source");
  expect(manifestToJSON(m)).not.toContain("kbs");
});

test("an encrypted resource needs a KBS, a repository/type/tag path and (for a dataset) a filename", () => {
  const ds = (d: object) => () => parseManifest({ datasets: [{ hash, user_key: key, filename: "a", ...d }], algorithm: { hash, user_key: key } });
  expect(ds({ source: { encrypted: true, kbs_resource_path: "a/b/c" } })).toThrow("source.encrypted needs kbs.enabled and kbs.url");
  expect(ds({ source: { encrypted: true, kbs_resource_path: "a/b" }, kbs: { url: "http://k", enabled: true } })).toThrow('expected "repository/type/tag" (letters, digits, . _ -; not . or ..), got "a/b"');
  expect(ds({ source: { encrypted: "yes" } })).toThrow(ManifestError);
  expect(() => parseManifest({ datasets: [{ hash, user_key: key, source: { encrypted: true, kbs_resource_path: "a/b/c" }, kbs: { url: "http://k", enabled: true } }], algorithm: { hash, user_key: key } })).toThrow(
    "an encrypted dataset must declare its filename",
  );
});

test("resource paths are repository/type/tag of safe segments", () => {
  expect(parseResourcePath("default/key/iris")).toEqual(["default", "key", "iris"]);
  for (const bad of ["default/key", "a/b/c/d", "a/../b", "a/b/%2e", ""]) expect(typeof parseResourcePath(bad)).toBe("string");
});
