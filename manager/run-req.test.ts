import { describe, expect, test } from "bun:test";
import protobuf from "protobufjs";
import { generateKeyPair, loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { manifestFromRunReq, manifestToJSON, parseManifest, runReqFromManifest, type RunReqObject } from "../protocol/manifest.ts";
import { ComputationRunReqType, decodeMessage, encodeMessage } from "../protocol/proto.ts";
import { RunReqAssembler, RunReqRefused } from "./run-req.ts";

const b = (...xs: number[]) => new Uint8Array(xs);

describe("RunReqChunks reassembly", () => {
  test("concatenates chunks of one id and completes on the empty is_last chunk", () => {
    const a = new RunReqAssembler({ idleMs: 1000 });
    expect(a.add({ id: "1", data: b(1, 2), is_last: false })).toBeNull();
    expect(a.add({ id: "1", data: b(3), is_last: false })).toBeNull();
    const done = a.add({ id: "1", data: b(), is_last: true });
    expect(done).toEqual({ id: "1", bytes: new Uint8Array([1, 2, 3]) });
    expect(a.pendingIds()).toEqual([]);
    a.clear();
  });

  test("interleaved ids are kept apart", () => {
    const a = new RunReqAssembler({ idleMs: 1000 });
    a.add({ id: "a", data: b(1), is_last: false });
    a.add({ id: "b", data: b(9), is_last: false });
    a.add({ id: "a", data: b(2), is_last: false });
    expect(a.add({ id: "b", data: b(), is_last: true })!.bytes).toEqual(b(9));
    expect(a.add({ id: "a", data: b(3), is_last: true })!.bytes).toEqual(b(1, 2, 3));
    a.clear();
  });

  test("a partial request is discarded after the idle timeout; later chunks start afresh", async () => {
    const expired: [string, number][] = [];
    const a = new RunReqAssembler({ idleMs: 60, onExpire: (id, n) => expired.push([id, n]) });
    a.add({ id: "x", data: b(1, 2, 3), is_last: false });
    await Bun.sleep(150);
    expect(expired).toEqual([["x", 3]]);
    expect(a.pendingIds()).toEqual([]);
    expect(a.add({ id: "x", data: b(), is_last: true })!.bytes).toEqual(b());
  });

  test("each chunk re-arms the idle timer", async () => {
    const expired: string[] = [];
    const a = new RunReqAssembler({ idleMs: 400, onExpire: (id) => expired.push(id) });
    for (let i = 0; i < 4; i++) {
      a.add({ id: "y", data: b(i), is_last: false });
      await Bun.sleep(130);
    }
    expect(expired).toEqual([]);
    expect(a.add({ id: "y", is_last: true })!.bytes).toEqual(b(0, 1, 2, 3));
  });

  test("an oversized request is refused and forgotten; the rest of its stream, is_last included, starts nothing", () => {
    const a = new RunReqAssembler({ idleMs: 1000, maxBytes: 4 });
    a.add({ id: "z", data: b(1, 2, 3), is_last: false });
    expect(() => a.add({ id: "z", data: b(4, 5), is_last: false })).toThrow(/at most 4 bytes/);
    expect(a.pendingIds()).toEqual([]);
    expect(a.heldBytes()).toBe(0);
    // Refused once: the tail is dropped silently, the last chunk completes nothing.
    expect(a.add({ id: "z", data: b(6), is_last: false })).toBeNull();
    expect(a.add({ id: "z", data: b(7), is_last: true })).toBeNull();
    expect(a.pendingIds()).toEqual([]);
    // The next stream of that id is a new request again.
    expect(a.add({ id: "z", data: b(8), is_last: true })!.bytes).toEqual(b(8));
    a.clear();
  });

  test("bytes held over all incomplete requests and their number are capped", () => {
    const a = new RunReqAssembler({ idleMs: 1000, maxBytes: 1000, maxTotalBytes: 250, maxPending: 2 });
    const chunk = new Uint8Array(90);
    const refused: string[] = [];
    // 6 ids × 2 × 90 bytes: what is held never passes 250 bytes or 2 ids.
    for (let round = 0; round < 2; round++) {
      for (const id of ["a", "b", "c", "d", "e", "f"]) {
        try {
          a.add({ id, data: chunk, is_last: false });
        } catch (e) {
          expect(e).toBeInstanceOf(RunReqRefused);
          refused.push(`${id}: ${(e as Error).message}`);
        }
        expect(a.heldBytes()).toBeLessThanOrEqual(250);
        expect(a.pendingIds().length).toBeLessThanOrEqual(2);
      }
    }
    expect(refused.some((r) => r.startsWith("a:") && r.includes("250-byte total"))).toBe(true);
    expect(refused.some((r) => r.startsWith("d:") && r.includes("at most 2"))).toBe(true);
    // Each refused stream is reported once, not per chunk.
    expect(refused.filter((r) => r.startsWith("d:"))).toHaveLength(1);
    a.clear();
    expect(a.heldBytes()).toBe(0);
  });

  test("ids that are not computation ids are refused before anything is stored", () => {
    const a = new RunReqAssembler({ idleMs: 1000 });
    expect(() => a.add({ id: "x".repeat(1900), data: b(1), is_last: false })).toThrow(/at most 128 characters, got 1900/);
    expect(() => a.add({ id: "a b\x1b", data: b(1), is_last: false })).toThrow(/letters, digits/);
    expect(() => a.add({ id: "", data: b(1), is_last: true })).toThrow(/computation id/);
    expect(a.pendingIds()).toEqual([]);
  });
});

// A Cocos v0.10.2 ComputationRunReq (agent/cvms/cvms.proto), written field by field with Cocos's
// numbers (not from our .proto), decoded by the manager and turned into the agent's manifest.
describe("Cocos v0.10 ComputationRunReq → the agent's manifest", () => {
  const key = publicKeyDer(loadPublicKey(generateKeyPair("ed25519").publicPem));
  type W = protobuf.Writer;
  const msg = (w: W, field: number, body: (w: W) => void) => {
    w.uint32((field << 3) | 2).fork();
    body(w);
    w.ldelim();
  };
  const str = (w: W, field: number, v: string) => w.uint32((field << 3) | 2).string(v);
  const bytes = (w: W, field: number, v: Uint8Array) => w.uint32((field << 3) | 2).bytes(v);
  const bool = (w: W, field: number) => w.uint32(field << 3).bool(true);
  const source = (w: W, field: number, url: string, path: string) =>
    msg(w, field, (s) => {
      str(s, 2, url);
      str(s, 3, path);
      bool(s, 4);
    });
  const kbs = (w: W, field: number, url: string) =>
    msg(w, field, (k) => {
      str(k, 1, url);
      bool(k, 2);
    });

  function v010Request(o: { globalKbs?: string; perResourceKbs?: boolean } = {}): Uint8Array {
    const w = protobuf.Writer.create();
    str(w, 1, "c10");
    str(w, 2, "iris");
    msg(w, 4, (d) => {
      bytes(d, 1, new Uint8Array(32).fill(1));
      bytes(d, 2, key);
      str(d, 3, "iris.csv");
      source(d, 4, "https://data.example/iris.enc", "default/key/iris");
      bool(d, 5); // decompress
      if (o.perResourceKbs !== false) kbs(d, 6, "https://kbs.example");
    });
    msg(w, 5, (a) => {
      bytes(a, 1, new Uint8Array(32).fill(2));
      bytes(a, 2, key);
      source(a, 3, "oci://registry.example/algo@sha256:" + "ab".repeat(32), "default/key/algo");
      str(a, 4, "python");
      str(a, 5, "--epochs");
      str(a, 5, "10, with a comma");
      if (o.perResourceKbs !== false) kbs(a, 6, "https://kbs2.example");
    });
    msg(w, 6, (c) => bytes(c, 1, key));
    msg(w, 7, (c) => str(c, 1, "7002")); // AgentConfig.port: field 1 in v0.4 and v0.10 alike
    if (o.globalKbs) kbs(w, 8, o.globalKbs);
    return w.finish();
  }

  test("algo_type, algo_args, per-resource kbs, source and decompress all reach the manifest, in Go's field order", () => {
    const m = manifestFromRunReq(decodeMessage<RunReqObject>(ComputationRunReqType, v010Request()));
    expect(m.algorithm.algo_type).toBe("python");
    expect(m.algorithm.algo_args).toEqual(["--epochs", "10, with a comma"]);
    expect(m.algorithm.kbs).toEqual({ url: "https://kbs2.example", enabled: true });
    // No type on the wire: inferred from the URL when fetched, not written (as Cocos's agent, which drops Source.type).
    expect(m.algorithm.source).toEqual({ url: "oci://registry.example/algo@sha256:" + "ab".repeat(32), kbs_resource_path: "default/key/algo", encrypted: true });
    expect(m.datasets[0]).toMatchObject({ filename: "iris.csv", decompress: true, kbs: { url: "https://kbs.example", enabled: true }, source: { url: "https://data.example/iris.enc", kbs_resource_path: "default/key/iris", encrypted: true } });
    const json = manifestToJSON(m);
    expect(json).toContain(`"source":{"url":"oci://registry.example/algo@sha256:${"ab".repeat(32)}","kbs_resource_path":"default/key/algo","encrypted":true},"algo_type":"python","algo_args":["--epochs","10, with a comma"],"kbs":{"url":"https://kbs2.example","enabled":true}}`);
    expect(json).toContain(`"filename":"iris.csv","source":{"url":"https://data.example/iris.enc","kbs_resource_path":"default/key/iris","encrypted":true},"decompress":true,"kbs":{"url":"https://kbs.example","enabled":true}}`);
    // What the agent parses is what the manager hashed (HOST_DATA): nothing is lost on the way in.
    expect(manifestToJSON(parseManifest(json))).toBe(json);
  });

  test("our control plane's form (runReqFromManifest) carries the same fields back onto the wire", () => {
    const m = manifestFromRunReq(decodeMessage<RunReqObject>(ComputationRunReqType, v010Request()));
    const again = manifestFromRunReq(decodeMessage<RunReqObject>(ComputationRunReqType, encodeMessage(ComputationRunReqType, runReqFromManifest(m) as Record<string, unknown>)));
    expect(manifestToJSON(again)).toBe(manifestToJSON(m));
  });

  test("v0.9's request-wide kbs serves the encrypted resources that name none; a resource's own kbs wins", () => {
    const m = manifestFromRunReq(decodeMessage<RunReqObject>(ComputationRunReqType, v010Request({ globalKbs: "https://global.example", perResourceKbs: false })));
    expect(m.datasets[0]!.kbs).toEqual({ url: "https://global.example", enabled: true });
    expect(m.algorithm.kbs).toEqual({ url: "https://global.example", enabled: true });
    const own = manifestFromRunReq(decodeMessage<RunReqObject>(ComputationRunReqType, v010Request({ globalKbs: "https://global.example" })));
    expect(own.algorithm.kbs!.url).toBe("https://kbs2.example");
  });

  test("an encrypted resource without any kbs, and an algo_type that is not a type name, are refused naming the field", () => {
    expect(() => manifestFromRunReq(decodeMessage<RunReqObject>(ComputationRunReqType, v010Request({ perResourceKbs: false })))).toThrow("kbs: source.encrypted needs kbs.enabled and kbs.url");
    const req = decodeMessage<RunReqObject>(ComputationRunReqType, v010Request());
    req.algorithm!.algo_type = "py thon; rm -rf /";
    expect(() => manifestFromRunReq(req)).toThrow("algorithm.algo_type");
  });
});
