// Every bad input of issue 3 on the agent side: the right status code, a clear message, no state
// change, nothing stored; and accepted uploads survive later rejections.
import { afterEach, describe, expect, test } from "bun:test";
import { rpcReportData } from "../attestation/report-data.ts";
import * as grpc from "@grpc/grpc-js";
import { strToU8, zipSync } from "fflate";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha3_256 } from "../protocol/hash.ts";
import { signRequest } from "../protocol/signature.ts";
import { ConfigfsTsmProvider } from "../attestation/providers/configfs.ts";
import { SimProvider } from "../attestation/providers/sim.ts";
import { pemToDer } from "../attestation/bytes.ts";
import { buildCertTable } from "../attestation/snp/certtable.ts";
import { verifySnp } from "../attestation/snp/verify.ts";
import { snpFile, snpText } from "../attestation/testdata/load.ts";
import { download, ed, metadata, startTestAgent, uploadAlgo, uploadData, v1, v2, type TestAgent } from "./testkit.ts";

const { UNAUTHENTICATED, PERMISSION_DENIED, FAILED_PRECONDITION, INVALID_ARGUMENT, OK } = grpc.status;
const algoKey = ed();
const dataKey = ed();
const otherDataKey = ed();
const consumerKey = ed();
const stranger = ed();
const script = strToU8("#!/bin/sh\necho ok > results/out.txt\n");
const d1 = strToU8("first dataset\n");
const d2 = strToU8("second dataset\n");
const ALGO = "/agent.AgentService/Algo";
const DATA = "/agent.AgentService/Data";

let t: TestAgent;
const fresh = (extra: Partial<Parameters<typeof startTestAgent>[0]> = {}) =>
  startTestAgent({
    algorithm: script,
    algoKey,
    datasets: [
      { bytes: d1, filename: "one.csv", key: dataKey },
      { bytes: d2, filename: "two.csv", key: otherDataKey },
    ],
    consumers: [consumerKey],
    ...extra,
  });
afterEach(async () => {
  await t?.close();
});

const algoMd = (extra: Record<string, string | string[]> = {}) => metadata({ ...v2(algoKey, "algorithm-provider", ALGO, t.manifest.id), algo_type: "bin", ...extra });
const dataMd = (key = dataKey, extra: Record<string, string> = {}) => metadata({ ...v2(key, "data-provider", DATA, t.manifest.id), decompress: "false", ...extra });
const stored = () => (existsSync(join(t.dir, "datasets")) ? readdirSync(join(t.dir, "datasets")) : []);
const incoming = () => readdirSync(join(t.dir, ".incoming"));

async function expectRejected(p: Promise<{ code: number; details: string }>, code: number, text: RegExp) {
  const before = t.agent.computation.state;
  const r = await p;
  expect(r.code).toBe(code);
  expect(r.details).toMatch(text);
  expect(t.agent.computation.state).toBe(before);
  expect(incoming()).toEqual([]);
}

describe("authentication (always first)", () => {
  test("wrong key → UNAUTHENTICATED, even in the wrong state", async () => {
    t = await fresh();
    await expectRejected(uploadAlgo(t, metadata({ ...v1(stranger, "algorithm-provider"), algo_type: "bin" }), script), UNAUTHENTICATED, /signature verification failed/);
    await expectRejected(uploadData(t, metadata(v1(stranger, "data-provider")), "one.csv", d1), UNAUTHENTICATED, /signature/);
  });

  test("flipped signature byte and missing signature → UNAUTHENTICATED", async () => {
    t = await fresh();
    const md = v1(algoKey, "algorithm-provider");
    const sig = Buffer.from(md.signature, "base64");
    sig[3]! ^= 1;
    await expectRejected(uploadAlgo(t, metadata({ ...md, signature: sig.toString("base64") }), script), UNAUTHENTICATED, /verification failed/);
    await expectRejected(uploadAlgo(t, metadata({ algo_type: "bin" }), script), UNAUTHENTICATED, /exactly one "signature"/);
  });

  test("replayed v2 signature → UNAUTHENTICATED; the first use was accepted", async () => {
    t = await fresh();
    const signed = signRequest(algoKey, { role: "algorithm-provider", method: ALGO, computationId: t.manifest.id });
    expect((await uploadAlgo(t, metadata({ ...signed, algo_type: "bin" }), script)).code).toBe(OK);
    const r = await uploadData(t, metadata({ ...signRequest(dataKey, { role: "data-provider", method: DATA, computationId: t.manifest.id }) }), "one.csv", d1);
    expect(r.code).toBe(OK);
    const replay = await uploadAlgo(t, metadata({ ...signed, algo_type: "bin" }), script);
    expect(replay.code).toBe(UNAUTHENTICATED);
    expect(replay.details).toContain("replayed");
  });

  test("v2 signature for another method or computation → UNAUTHENTICATED", async () => {
    t = await fresh();
    await expectRejected(uploadAlgo(t, metadata({ ...v2(algoKey, "algorithm-provider", DATA, t.manifest.id), algo_type: "bin" }), script), UNAUTHENTICATED, /verification failed/);
    await expectRejected(uploadAlgo(t, metadata({ ...v2(algoKey, "algorithm-provider", ALGO, "other"), algo_type: "bin" }), script), UNAUTHENTICATED, /verification failed/);
  });

  test("a v2-only manifest refuses v1 signatures", async () => {
    t = await fresh({ signatures: "v2-only" });
    await expectRejected(uploadAlgo(t, metadata({ ...v1(algoKey, "algorithm-provider"), algo_type: "bin" }), script), UNAUTHENTICATED, /requires v2/);
    expect((await uploadAlgo(t, algoMd(), script)).code).toBe(OK);
  });

  test("undeclared consumer → PERMISSION_DENIED; a data provider asking for results too", async () => {
    t = await fresh();
    const r1 = await download(t, "Result", metadata(v2(stranger, "consumer", "/agent.AgentService/Result", t.manifest.id)));
    expect(r1.code).toBe(PERMISSION_DENIED);
    expect(r1.details).toContain("result consumer is undeclared");
    const r2 = await download(t, "Result", metadata(v1(dataKey, "consumer")));
    expect(r2.code).toBe(PERMISSION_DENIED);
    const r3 = await download(t, "Result", metadata(v1(stranger, "consumer")));
    expect(r3.code).toBe(UNAUTHENTICATED); // v1 carries no key: an unknown signer is just unauthenticated
  });
});

describe("state checks", () => {
  test("dataset before the algorithm, results before the run → FAILED_PRECONDITION", async () => {
    t = await fresh();
    await expectRejected(uploadData(t, dataMd(), "one.csv", d1), FAILED_PRECONDITION, /algorithm must be uploaded first/);
    const r = await download(t, "Result", metadata(v1(consumerKey, "consumer")));
    expect(r.code).toBe(FAILED_PRECONDITION);
    expect(r.details).toContain("not yet ready");
  });

  test("second algorithm → INVALID_ARGUMENT; the first survives", async () => {
    t = await fresh();
    expect((await uploadAlgo(t, algoMd(), script)).code).toBe(OK);
    await expectRejected(uploadAlgo(t, algoMd(), script), INVALID_ARGUMENT, /algorithm already received/);
    expect(existsSync(join(t.dir, "algo"))).toBe(true);
  });
});

describe("content checks", () => {
  test("algorithm hash mismatch → INVALID_ARGUMENT, then the right file is accepted", async () => {
    t = await fresh();
    await expectRejected(uploadAlgo(t, algoMd(), strToU8("#!/bin/sh\nevil\n")), INVALID_ARGUMENT, /hash does not match manifest: expected SHA3-256 [0-9a-f]{64}, received [0-9a-f]{64}/);
    expect(existsSync(join(t.dir, "algo"))).toBe(false);
    expect((await uploadAlgo(t, algoMd(), script)).code).toBe(OK);
    expect(t.agent.computation.state).toBe("ReceivingData");
  });

  test("unknown algo_type → INVALID_ARGUMENT", async () => {
    t = await fresh();
    await expectRejected(uploadAlgo(t, algoMd({ algo_type: "cobol" }), script), INVALID_ARGUMENT, /unknown algo_type "cobol": expected one of wasm, bin, python, docker/);
  });

  test("adversary algorithm provider: an upload whose algo_type is not the one the manifest names → INVALID_ARGUMENT, nothing stored", async () => {
    t = await fresh({ patchManifest: (raw) => (raw.algorithm.algo_type = "bin") });
    await expectRejected(uploadAlgo(t, algoMd({ algo_type: "python" }), script), INVALID_ARGUMENT, /algo_type "python" does not match the manifest's algorithm.algo_type "bin"/);
    expect(existsSync(join(t.dir, "algo"))).toBe(false);
    expect((await uploadAlgo(t, algoMd({ algo_type: "bin" }), script)).code).toBe(OK);
  });

  test("a python_runtime the agent does not have → INVALID_ARGUMENT at Algo, before the algorithm is read or stored", async () => {
    // A python runner that says it can run here, whatever this machine has: the runtime name decides.
    t = await fresh({ runnerFor: (type) => ({ type, unavailable: async () => null, run: async () => ({ kind: "exit", code: 0, durationMs: 0 }) }) });
    await expectRejected(uploadAlgo(t, algoMd({ algo_type: "python", python_runtime: "python3; rm -rf /" }), script), INVALID_ARGUMENT, /python_runtime refused: .*expected a name like python3 or python3.11/);
    await expectRejected(uploadAlgo(t, algoMd({ algo_type: "python", python_runtime: "python3.99" }), script), INVALID_ARGUMENT, /python_runtime refused: python runtime python3.99 not found on PATH/);
    expect(existsSync(join(t.dir, "algo"))).toBe(false);
    expect(t.agent.computation.state).toBe("ReceivingAlgorithm");
  });

  test("oversize upload → INVALID_ARGUMENT, nothing kept", async () => {
    t = await fresh({ config: { maxAlgorithmBytes: 16 } as never });
    await expectRejected(uploadAlgo(t, algoMd(), script), INVALID_ARGUMENT, /exceeds the size limit: expected at most 16 bytes/);
  });

  describe("datasets", () => {
    const ready = async (extra: Partial<Parameters<typeof startTestAgent>[0]> = {}) => {
      t = await fresh(extra);
      expect((await uploadAlgo(t, algoMd(), script)).code).toBe(OK);
    };

    test("filename mismatch, undeclared dataset, ../ and absolute filenames → INVALID_ARGUMENT", async () => {
      await ready();
      await expectRejected(uploadData(t, dataMd(), "other.csv", d1), INVALID_ARGUMENT, /filename does not match manifest: expected one.csv, received "other.csv"/);
      await expectRejected(uploadData(t, dataMd(), "one.csv", strToU8("not declared")), INVALID_ARGUMENT, /dataset not declared in computation manifest/);
      await expectRejected(uploadData(t, dataMd(), "../one.csv", d1), INVALID_ARGUMENT, /path separator/);
      await expectRejected(uploadData(t, dataMd(), "/etc/one.csv", d1), INVALID_ARGUMENT, /path separator/);
      await expectRejected(uploadData(t, dataMd(), "..", d1), INVALID_ARGUMENT, /directory reference/);
      expect(stored()).toEqual([]);
    });

    test("a dataset declared for another provider → PERMISSION_DENIED", async () => {
      await ready();
      await expectRejected(uploadData(t, dataMd(dataKey), "two.csv", d2), PERMISSION_DENIED, /another data provider/);
    });

    test("accepted uploads survive later rejections; a duplicate is refused", async () => {
      await ready();
      expect((await uploadData(t, dataMd(), "one.csv", d1)).code).toBe(OK);
      await expectRejected(uploadData(t, dataMd(), "one.csv", d1), INVALID_ARGUMENT, /already received/);
      await expectRejected(uploadData(t, dataMd(otherDataKey), "two.csv", strToU8("tampered")), INVALID_ARGUMENT, /not declared/);
      expect(stored()).toEqual(["one.csv"]);
    });

    test("malformed protobuf → INVALID_ARGUMENT", async () => {
      await ready();
      const raw = new grpc.Client(`127.0.0.1:${t.agent.grpcPort}`, grpc.credentials.createInsecure());
      const r = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = raw.makeClientStreamRequest(DATA, (b: Buffer) => b, (b: Buffer) => b, dataMd(), (err) => resolve(err));
        call.write(Buffer.from([0x0a, 0xff, 0x01, 0x02])); // field 1, declared length 255, 2 bytes present
        call.end();
      });
      raw.close();
      expect(r?.code).toBe(INVALID_ARGUMENT);
      expect(r?.details).toContain("malformed request message");
      expect(t.agent.computation.state).toBe("ReceivingData");
      expect(incoming()).toEqual([]);
    });

    test("zip slip and zip bomb with decompress → INVALID_ARGUMENT, nothing extracted", async () => {
      const slip = zipSync({ "../escape.txt": strToU8("x") });
      const bomb = zipSync({ "big.bin": new Uint8Array(3 << 20) }, { level: 9 });
      await ready({
        datasets: [
          { bytes: slip, filename: "slip.zip", key: dataKey },
          { bytes: bomb, filename: "bomb.zip", key: dataKey },
        ],
        config: { maxUnzipBytes: 1 << 20 } as never,
      });
      await expectRejected(uploadData(t, dataMd(dataKey, { decompress: "true" }), "slip.zip", slip), INVALID_ARGUMENT, /could not be decompressed: .*'\.\.' path segment/);
      await expectRejected(uploadData(t, dataMd(dataKey, { decompress: "true" }), "bomb.zip", bomb), INVALID_ARGUMENT, /could not be decompressed: .*limit is 1048576/);
      expect(stored()).toEqual([]);
      expect(existsSync(join(t.dir, "escape.txt"))).toBe(false);
      // The uploader heard the entry name; the agent's log (which the host reads) did not.
      expect(t.logs.join("\n")).not.toContain("escape.txt");
      expect(t.logs.join("\n")).toContain("dataset slip.zip could not be decompressed: archive refused");
    });

    test("an entry over AGENT_MAX_UNZIP_ENTRY_BYTES → INVALID_ARGUMENT, even under the total cap", async () => {
      const big = zipSync({ "big.bin": new Uint8Array(2 << 20) }, { level: 9 });
      await ready({ datasets: [{ bytes: big, filename: "big.zip", key: dataKey }], config: { maxUnzipBytes: 64 << 20, maxUnzipEntryBytes: 1 << 20 } as never });
      await expectRejected(uploadData(t, dataMd(dataKey, { decompress: "true" }), "big.zip", big), INVALID_ARGUMENT, /big.bin declares 2097152 bytes, the limit per entry is 1048576/);
      expect(stored()).toEqual([]);
    });

    test("an archive may not take a name that belongs to another dataset → INVALID_ARGUMENT, nothing written", async () => {
      const good = zipSync({ "x.csv": strToU8("mine") });
      const steal = zipSync({ "two.csv": strToU8("not yours") });
      const copy = zipSync({ "x.csv": strToU8("again") });
      await ready({
        datasets: [
          { bytes: good, filename: "good.zip", key: dataKey },
          { bytes: steal, filename: "steal.zip", key: otherDataKey },
          { bytes: d2, filename: "two.csv", key: otherDataKey },
          { bytes: copy, filename: "copy.zip", key: otherDataKey },
          { bytes: d1, filename: "", key: dataKey },
        ],
      });
      const zipMd = (key: typeof dataKey) => dataMd(key, { decompress: "true" });
      expect((await uploadData(t, zipMd(dataKey), "good.zip", good)).code).toBe(OK);
      await expectRejected(uploadData(t, zipMd(otherDataKey), "steal.zip", steal), INVALID_ARGUMENT, /zip entry two.csv refused: the name "two.csv" is declared in the manifest for another dataset/);
      await expectRejected(uploadData(t, dataMd(dataKey), "two.csv", d1), INVALID_ARGUMENT, /dataset filename "two.csv" refused: it is declared in the manifest for another dataset/);
      expect((await uploadData(t, dataMd(otherDataKey), "two.csv", d2)).code).toBe(OK);
      await expectRejected(uploadData(t, zipMd(otherDataKey), "copy.zip", copy), INVALID_ARGUMENT, /zip entry x.csv refused: the name "x.csv" was already produced by another dataset/);
      expect(stored().sort()).toEqual(["two.csv", "x.csv"]);
      expect(readFileSync(join(t.dir, "datasets", "x.csv"), "utf8")).toBe("mine");
    });

    test("client disconnecting mid-upload leaves nothing; a retry works", async () => {
      await ready();
      const big = new Uint8Array(3 << 20).fill(1);
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = t.client.Data(dataMd(), (e: grpc.ServiceError | null) => resolve(e));
        call.write({ dataset: big.subarray(0, 1 << 20), filename: "one.csv" });
        setTimeout(() => call.cancel(), 100);
      });
      expect(err?.code).toBe(grpc.status.CANCELLED);
      for (let i = 0; i < 50 && incoming().length > 0; i++) await Bun.sleep(20);
      expect(incoming()).toEqual([]);
      expect(stored()).toEqual([]);
      expect(t.agent.computation.state).toBe("ReceivingData");
      expect((await uploadData(t, dataMd(), "one.csv", d1)).code).toBe(OK);
      expect(stored()).toEqual(["one.csv"]);
    });
  });
});

describe("Attestation RPC", () => {
  test("returns the provider's evidence with the RPC-labelled nonce as report data; bad requests refused", async () => {
    t = await fresh({ provider: new SimProvider({ hostData: new Uint8Array(32) }) });
    const nonce = sha3_256("client nonce");
    const r = await download(t, "Attestation", new grpc.Metadata(), { teeNonce: nonce, type: 0 });
    expect(r.code).toBe(OK);
    expect(r.fileSize).toBe(r.bytes.length);
    expect(r.bytes.length).toBeGreaterThanOrEqual(0x4a0);
    expect([...r.bytes.subarray(0x50, 0x90)]).toEqual([...rpcReportData(nonce)]);
    const long = await download(t, "Attestation", new grpc.Metadata(), { teeNonce: new Uint8Array(65) });
    expect(long.code).toBe(INVALID_ARGUMENT);
    expect(long.details).toContain("expect less or equal to 64 bytes");
    const vtpm = await download(t, "Attestation", new grpc.Metadata(), { type: 1 });
    expect(vtpm.code).toBe(FAILED_PRECONDITION);
    const bad = await download(t, "Attestation", new grpc.Metadata(), { type: 9 });
    expect(bad.code).toBe(INVALID_ARGUMENT);
  });

  test("serves real SEV-SNP evidence from a configfs-tsm tree: the RPC-labelled nonce goes to inblob", async () => {
    // A directory laid out like /sys/kernel/config/tsm/report/<entry> once the kernel has filled it,
    // holding a real Milan report and its certificate table.
    const root = mkdtempSync(join(tmpdir(), "agent-tsm-"));
    try {
      const entry = join(root, "cocos-agent");
      mkdirSync(entry);
      const report = snpFile("trustee_milan_v2_report.bin");
      const [ask, ark] = pemToDer(snpText("amd_milan_ask_ark.pem"));
      const aux = buildCertTable({ vcek: snpFile("trustee_milan_vcek.der"), ask, ark });
      writeFileSync(join(entry, "provider"), "sev_guest\n");
      writeFileSync(join(entry, "generation"), "1\n");
      writeFileSync(join(entry, "outblob"), report);
      writeFileSync(join(entry, "auxblob"), aux);
      t = await fresh({ provider: new ConfigfsTsmProvider({ root, entryName: "cocos-agent" }) });
      const nonce = sha3_256("configfs nonce");
      const r = await download(t, "Attestation", new grpc.Metadata(), { teeNonce: nonce, type: 0 });
      expect(r.code).toBe(OK);
      const inblob = new Uint8Array(readFileSync(join(entry, "inblob")));
      expect(inblob.length).toBe(64);
      expect([...inblob]).toEqual([...rpcReportData(nonce)]);
      expect(Buffer.compare(r.bytes, Buffer.concat([report, aux]))).toBe(0);
      const v = verifySnp(new Uint8Array(r.bytes), { policy: { root_of_trust: { product: "Milan" } } });
      expect(v.ok).toBe(true);
      expect(v.simulated).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("without a provider the RPC says so", async () => {
    t = await fresh({ provider: null });
    const r = await download(t, "Attestation", new grpc.Metadata(), { teeNonce: new Uint8Array(64) });
    expect(r.code).toBe(FAILED_PRECONDITION);
    expect(r.details).toContain("no evidence provider");
  });
});
