import { describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { toHex } from "./hash.ts";
import { decodeMessage, encodeMessage, ComputationRunReqType } from "./proto.ts";
import { manifestFromRunReq, ManifestError, manifestHash, manifestToJSON, parseManifest, runReqFromManifest, goJSONString } from "./manifest.ts";

const K1 = "MCowBQYDK2VwAyEAp/tCga13FHAQimP0Pafg+KqB2ao09W62kSW40GisouE=";
const K2 = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEG90rjw0wZumzqdl4E81vGENO+g3qb67i6RU2NzOO6BVbNFgb8AmPgFwZL25YcyhlfGgrNoaRRTMaIbxka95yyw==";
const H1 = Array.from({ length: 32 }, (_, i) => i);
const H2 = Array.from({ length: 32 }, (_, i) => 255 - i);

// Keys out of Go struct order, whitespace, empty/false fields that omitempty must drop.
const INPUT = `{
  "agent_config": { "attested_tls": false, "port": "7002", "log_level": "debug", "server_key": "", "host": "" },
  "result_consumers": [ { "user_key": "${K1}" } ],
  "algorithm": { "user_key": "${K2}", "hash": ${JSON.stringify(H2)} },
  "datasets": [ { "filename": "iris<1>&.csv", "user_key": "${K1}", "hash": ${JSON.stringify(H1)} } ],
  "description": "a<b>&c \\u2028 ü\\n",
  "name": "sample computation",
  "id": "1"
}`;

// Written by hand from Go encoding/json's rules (struct order, omitempty, [32]byte → int array,
// []byte → std base64, HTML-safe escaping, U+2028 escaped, non-ASCII raw); its SHA3-256 was computed
// independently with Python's hashlib.sha3_256.
const EXPECTED =
  `{"id":"1","name":"sample computation","description":"a\\u003cb\\u003e\\u0026c \\u2028 ü\\n",` +
  `"datasets":[{"hash":[${H1.join(",")}],"user_key":"${K1}","filename":"iris\\u003c1\\u003e\\u0026.csv"}],` +
  `"algorithm":{"hash":[${H2.join(",")}],"user_key":"${K2}"},"result_consumers":[{"user_key":"${K1}"}],` +
  `"agent_config":{"log_level":"debug","port":"7002"}}`;
const EXPECTED_HASH = "131f12e2400d38b792c50992893e90ab4736dcba368478d41f3e44d3e8ba8c01";

describe("manifest canonical JSON (Go encoding/json)", () => {
  test("reproduces Go's bytes and hash", () => {
    const m = parseManifest(INPUT);
    expect(manifestToJSON(m)).toBe(EXPECTED);
    expect(toHex(manifestHash(m))).toBe(EXPECTED_HASH);
  });

  test("is a fixed point: parsing the canonical JSON gives the same JSON", () => {
    expect(manifestToJSON(parseManifest(EXPECTED))).toBe(EXPECTED);
  });

  test("empty manifest keeps algorithm and agent_config objects", () => {
    const m = parseManifest({ algorithm: { hash: H1, user_key: K1 } });
    expect(manifestToJSON(m)).toBe(`{"algorithm":{"hash":[${H1.join(",")}],"user_key":"${K1}"},"agent_config":{}}`);
  });

  test("attested_tls true and all agent_config keys in Go order", () => {
    const m = parseManifest({
      algorithm: { hash: H1, user_key: K1 },
      agent_config: { attested_tls: true, client_ca_file: "c", server_ca_file: "s", server_key: "k", cert_file: "f", port: "1", host: "h", log_level: "info" },
    });
    expect(manifestToJSON(m)).toEndWith(`"agent_config":{"log_level":"info","host":"h","port":"1","cert_file":"f","server_key":"k","server_ca_file":"s","client_ca_file":"c","attested_tls":true}}`);
  });

  test("signatures policy is emitted only when set", () => {
    const base = { algorithm: { hash: H1, user_key: K1 } };
    expect(manifestToJSON(parseManifest(base))).not.toContain("signatures");
    expect(manifestToJSON(parseManifest({ ...base, signatures: "v2-only" }))).toEndWith(`,"signatures":"v2-only"}`);
  });

  test("guest_output is emitted only when set, so a manifest without it hashes as Cocos's", () => {
    const base = { algorithm: { hash: H1, user_key: K1 } };
    expect(manifestToJSON(parseManifest(base))).not.toContain("guest_output");
    expect(manifestToJSON(parseManifest({ ...base, guest_output: "" }))).toBe(manifestToJSON(parseManifest(base)));
    const m = parseManifest({ ...base, signatures: "v2-only", guest_output: "results" });
    expect(manifestToJSON(m)).toEndWith(`,"signatures":"v2-only","guest_output":"results"}`);
    const bytes = encodeMessage(ComputationRunReqType, runReqFromManifest(m) as Record<string, unknown>);
    expect(manifestFromRunReq(decodeMessage(ComputationRunReqType, bytes)).guest_output).toBe("results");
  });

  test("Go string escaping of control characters and lone surrogates", () => {
    expect(goJSONString("\u0001\b\f\t\"\\\u2029")).toBe('"\\u0001\\b\\f\\t\\"\\\\\\u2029"');
    expect(goJSONString("x\ud800y")).toBe('"x\\ufffdy"');
  });
});

describe("manifest validation", () => {
  const ok = { algorithm: { hash: H1, user_key: K1 } };
  const bad = (m: object, field: string) => {
    let err: unknown;
    try {
      parseManifest(m);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as ManifestError).field).toBe(field);
  };
  test("hash of the wrong length", () => bad({ algorithm: { hash: H1.slice(0, 31), user_key: K1 } }, "algorithm.hash"));
  test("hash with a non-byte value", () => bad({ algorithm: { hash: [...H1.slice(0, 31), 256], user_key: K1 } }, "algorithm.hash[31]"));
  test("unparseable key", () => bad({ algorithm: { hash: H1, user_key: "AAAA" } }, "algorithm.user_key"));
  test("key of a refused type (P-384)", () => {
    const k = generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey.export({ type: "spki", format: "der" }).toString("base64");
    bad({ ...ok, result_consumers: [{ user_key: k }] }, "result_consumers[0].user_key");
  });
  test("duplicate dataset filenames", () =>
    bad({ ...ok, datasets: [{ hash: H1, user_key: K1, filename: "a.csv" }, { hash: H2, user_key: K1, filename: "a.csv" }] }, "datasets[1].filename"));
  test("unsafe dataset filename", () => bad({ ...ok, datasets: [{ hash: H1, user_key: K1, filename: "../etc/passwd" }] }, "datasets[0].filename"));
  test("dot-dot filename", () => bad({ ...ok, datasets: [{ hash: H1, user_key: K1, filename: ".." }] }, "datasets[0].filename"));
  test("unknown signature policy", () => bad({ ...ok, signatures: "v3" }, "signatures"));
  test("unknown guest_output policy", () => bad({ ...ok, guest_output: "host" }, "guest_output"));
  test("not JSON", () => bad("{" as unknown as object, "(document)"));
});

describe("ComputationRunReq conversion", () => {
  test("manifest → proto bytes → manifest keeps the canonical JSON", () => {
    const m = parseManifest(INPUT);
    const bytes = encodeMessage(ComputationRunReqType, runReqFromManifest(m) as Record<string, unknown>);
    const back = manifestFromRunReq(decodeMessage(ComputationRunReqType, bytes));
    expect(manifestToJSON(back)).toBe(EXPECTED);
  });

  test("a run request with a 31-byte hash is refused", () => {
    const req = runReqFromManifest(parseManifest(INPUT));
    req.datasets![0]!.hash = new Uint8Array(31);
    expect(() => manifestFromRunReq(req)).toThrow(/datasets\[0\]\.hash: expected 32 bytes/);
  });
});

describe("remote sources and sealed results", () => {
  const base = JSON.parse(INPUT);
  const withSource = (source: unknown, extra: Record<string, unknown> = {}) =>
    parseManifest({ ...base, datasets: [{ ...base.datasets[0], source }], ...extra });

  test("absent, they leave Cocos's bytes and hash unchanged", () => {
    const m = parseManifest({ ...base, seal_results: false });
    expect(manifestToJSON(m)).toBe(EXPECTED);
    expect(toHex(manifestHash(m))).toBe(EXPECTED_HASH);
  });

  test("source is written in Cocos's place (after filename) and order (type, url); seal_results last", () => {
    const url = "oci://127.0.0.1:5000/datasets/iris@sha256:" + "a".repeat(64);
    const m = withSource({ url, type: "oci-image" }, { seal_results: true });
    const json = manifestToJSON(m);
    expect(json).toContain(`"filename":"iris\\u003c1\\u003e\\u0026.csv","source":{"type":"oci-image","url":"${url}"}}]`);
    expect(json.endsWith(`"agent_config":{"log_level":"debug","port":"7002"},"seal_results":true}`)).toBe(true);
    expect(manifestToJSON(parseManifest(json))).toBe(json);
    const algo = parseManifest({ ...base, algorithm: { ...base.algorithm, source: { url: "https://example.org/a.wasm" } } });
    expect(manifestToJSON(algo)).toContain(`"user_key":"${K2}","source":{"url":"https://example.org/a.wasm"}}`);
  });

  test("sources and seal_results survive the ComputationRunReq wire form (Cocos's Source message)", () => {
    const wire = (m: ReturnType<typeof parseManifest>) =>
      manifestFromRunReq(decodeMessage(ComputationRunReqType, encodeMessage(ComputationRunReqType, runReqFromManifest(m) as unknown as Record<string, unknown>)) as never);
    const m = withSource({ url: "https://example.org/iris.csv" }, { seal_results: true, algorithm: { ...base.algorithm, source: { type: "oci-image", url: "oci://reg.example/algo:v1" } } });
    const back = wire(m);
    expect(back.seal_results).toBe(true);
    expect(manifestToJSON(back)).toBe(manifestToJSON(m));
    expect(manifestToJSON(wire(parseManifest(INPUT)))).toBe(EXPECTED); // no source: none appears
  });

  test("bad sources are refused with what was expected", () => {
    expect(() => withSource({ url: "s3://bucket/iris.csv" })).toThrow("expected an https://, http:// or oci:// URL");
    expect(() => withSource({ url: "https://example.org/iris.csv", type: "oci-image" })).toThrow('matching the URL ("https"), got "oci-image"');
    expect(() => withSource({ url: "https://user:secret@example.org/iris.csv" })).toThrow("must not carry credentials");
    expect(() => withSource({ type: "https" })).toThrow("needs a url");
    expect(() => parseManifest({ ...base, datasets: [{ ...base.datasets[0], filename: "", source: { url: "https://example.org/x" } }] })).toThrow("needs a filename");
    expect(() => parseManifest({ ...base, seal_results: "yes" })).toThrow("seal_results: expected a boolean");
  });
});
