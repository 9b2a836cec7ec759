// Remote inputs through the agent: fetched when the computation expects them (the algorithm at
// start, the datasets once the algorithm is in), checked like uploads, counted as received. A source
// that fails is refused with a clear reason, the agent keeps running and keeps what it has, and the
// party can still upload the bytes. With seal_results the archive leaves sealed to the consumer.
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { strToU8, unzipSync, zipSync } from "fflate";
import { createDecipheriv } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sha3_256, toHex } from "../../protocol/hash.ts";
import { decodePrefix, isSealed, keyId, unwrapWith } from "../../protocol/sealed.ts";
import type { Runner, RunSpec } from "../../runtime/types.ts";
import { download, ed, metadata, startTestAgent, uploadAlgo, uploadData, v2, type TestAgent } from "../testkit.ts";

const algoKey = ed();
const dataKey = ed();
const consumerKey = ed();
const script = strToU8("#!/bin/sh\n"); // never run: the stand-in runner acts instead
const remoteCsv = strToU8("id,value\n1,remote-row\n");
const localCsv = strToU8("id,value\n2,local-row\n");
const remoteZip = zipSync({ "inner.csv": strToU8("id,value\n3,zipped-row\n") });
const hits: Record<string, number> = {};
let server: ReturnType<typeof Bun.serve>;
let base = "";
let t: TestAgent;

beforeAll(() => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const p = new URL(req.url).pathname;
      hits[p] = (hits[p] ?? 0) + 1;
      if (p === "/remote.csv") return new Response(remoteCsv);
      if (p === "/remote.zip") return new Response(remoteZip);
      if (p === "/algo") return new Response(script);
      if (p === "/flaky.csv") return hits[p]! < 3 ? new Response("", { status: 503 }) : new Response(remoteCsv);
      if (p === "/other.csv") return new Response(strToU8("id,value\n9,forged\n"));
      return new Response("", { status: 404 });
    },
  });
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(() => server.stop(true));
afterEach(() => t?.close());

/** Copies every dataset into results/, so the archive shows what the algorithm saw. */
const copier = (): Runner => ({
  type: "bin",
  unavailable: async () => null,
  run: async (spec: RunSpec) => {
    for (const d of spec.datasets ?? []) await Bun.write(join(spec.resultsDir, d.name), readFileSync(join(spec.datasetsDir, d.name)));
    await Bun.write(join(spec.resultsDir, "run.json"), JSON.stringify({ algoType: spec.algoType, args: spec.args }));
    await Bun.sleep(10);
    return { kind: "exit", code: 0, durationMs: 1 };
  },
});

async function agentWith(remotePath: string, o: { remoteAlgo?: boolean; seal?: boolean; algoRun?: { algo_type: string; algo_args: string[] }; remoteBytes?: Uint8Array; decompress?: boolean } = {}): Promise<TestAgent> {
  return startTestAgent({
    algorithm: script,
    algoKey,
    datasets: [
      { bytes: o.remoteBytes ?? remoteCsv, filename: "remote.csv", key: dataKey },
      { bytes: localCsv, filename: "local.csv", key: dataKey },
    ],
    consumers: [consumerKey],
    runnerFor: copier,
    config: { sources: { idleTimeoutMs: 2000, attempts: 3 } },
    patchManifest: (raw) => {
      raw.datasets[0].source = { url: `${base}${remotePath}` };
      if (o.decompress) raw.datasets[0].decompress = true;
      if (o.remoteAlgo) raw.algorithm.source = { url: `${base}/algo` };
      if (o.algoRun) Object.assign(raw.algorithm, o.algoRun);
      if (o.seal) raw.seal_results = true;
    },
  });
}

const algoMd = () => metadata({ ...v2(algoKey, "algorithm-provider", "/agent.AgentService/Algo", t.manifest.id), algo_type: "bin" });
const dataMd = () => metadata({ ...v2(dataKey, "data-provider", "/agent.AgentService/Data", t.manifest.id), decompress: "false" });
const resultMd = () => metadata(v2(consumerKey, "consumer", "/agent.AgentService/Result", t.manifest.id));
const hostView = () => [...t.logs, ...t.hostLogs.map((l) => l.message)].join("\n");

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ok(); i++) await Bun.sleep(10);
  if (!ok()) throw new Error(`timed out waiting for ${what}\n${hostView()}`);
}

test("a remote dataset is fetched once the algorithm is in, and counts as received", async () => {
  t = await agentWith("/remote.csv");
  expect(hits["/remote.csv"] ?? 0).toBe(0); // not before the state that expects it
  expect((await uploadAlgo(t, algoMd(), script)).code).toBe(grpc.status.OK);
  await until("the remote dataset", () => hostView().includes("remote dataset received"));
  expect(t.agent.computation.state).toBe("ReceivingData");
  expect((await uploadData(t, dataMd(), "local.csv", localCsv)).code).toBe(grpc.status.OK);
  await t.waitForState("ConsumingResults");
  const r = await download(t, "Result", resultMd());
  const files = unzipSync(new Uint8Array(r.bytes));
  expect(new TextDecoder().decode(files["remote.csv"])).toBe(new TextDecoder().decode(remoteCsv));
});

test("a remote algorithm is fetched at start, right after the manifest", async () => {
  t = await agentWith("/remote.csv", { remoteAlgo: true });
  await until("the remote algorithm and dataset", () => hostView().includes("remote dataset received"));
  expect(hostView()).toContain('"algo_type":"bin"');
  expect(t.agent.computation.state).toBe("ReceivingData");
});

test("a remote algorithm runs as the manifest's algo_type with its algo_args (Cocos v0.9+), each argument whole", async () => {
  const args = ["--model", '{"a": 1, "b": 2}', ""];
  t = await agentWith("/remote.csv", { remoteAlgo: true, algoRun: { algo_type: "bin", algo_args: args } });
  await until("the remote algorithm and dataset", () => hostView().includes("remote dataset received"));
  expect((await uploadData(t, dataMd(), "local.csv", localCsv)).code).toBe(grpc.status.OK);
  await t.waitForState("ConsumingResults");
  const files = unzipSync(new Uint8Array((await download(t, "Result", resultMd())).bytes));
  expect(JSON.parse(new TextDecoder().decode(files["run.json"]))).toEqual({ algoType: "bin", args });
});

test("a remote dataset whose manifest entry says decompress is unpacked like an upload with decompress metadata", async () => {
  t = await agentWith("/remote.zip", { remoteBytes: remoteZip, decompress: true });
  expect((await uploadAlgo(t, algoMd(), script)).code).toBe(grpc.status.OK);
  await until("the remote dataset", () => hostView().includes("remote dataset received"));
  expect((await uploadData(t, dataMd(), "local.csv", localCsv)).code).toBe(grpc.status.OK);
  await t.waitForState("ConsumingResults");
  const files = unzipSync(new Uint8Array((await download(t, "Result", resultMd())).bytes));
  expect(new TextDecoder().decode(files["inner.csv"])).toContain("zipped-row");
});

test("a 404 source is refused with the status; the agent keeps the algorithm, and an upload of the same bytes still completes it", async () => {
  t = await agentWith("/gone.csv");
  expect((await uploadAlgo(t, algoMd(), script)).code).toBe(grpc.status.OK);
  await until("the refusal", () => hostView().includes("remote dataset refused"));
  expect(hostView()).toContain(`${base}/gone.csv: expected HTTP 200, received 404`);
  expect(hits["/gone.csv"]).toBe(1); // a 404 is final: not retried
  expect(t.events).toContainEqual({ type: "ReceivingData", status: "Warning" });
  expect(t.agent.computation.state).toBe("ReceivingData");
  expect((await uploadData(t, dataMd(), "remote.csv", remoteCsv)).code).toBe(grpc.status.OK);
  expect((await uploadData(t, dataMd(), "local.csv", localCsv)).code).toBe(grpc.status.OK);
  await t.waitForState("ConsumingResults");
});

test("a source that answers 503 twice is retried (bounded) and then accepted", async () => {
  t = await agentWith("/flaky.csv");
  expect((await uploadAlgo(t, algoMd(), script)).code).toBe(grpc.status.OK);
  await until("the remote dataset", () => hostView().includes("remote dataset received"));
  expect(hits["/flaky.csv"]).toBe(3);
  expect(t.logs.join("\n").match(/remote source attempt failed, retrying/g)).toHaveLength(2);
});

test("a source serving other bytes than the manifest's hash is refused with both hashes; nothing is stored", async () => {
  t = await agentWith("/other.csv");
  expect((await uploadAlgo(t, algoMd(), script)).code).toBe(grpc.status.OK);
  await until("the refusal", () => hostView().includes("remote dataset refused"));
  const got = toHex(sha3_256(strToU8("id,value\n9,forged\n")));
  expect(hostView()).toContain(`hash does not match manifest datasets[0]: expected SHA3-256 ${toHex(sha3_256(remoteCsv))}, received ${got}`);
  expect(readdirSync(join(t.dir, ".incoming"))).toEqual([]);
  expect(t.agent.computation.state).toBe("ReceivingData");
});

test("seal_results: the archive leaves the agent sealed; the consumer's key opens it, the host's copy is ciphertext", async () => {
  t = await agentWith("/remote.csv", { seal: true });
  expect((await uploadAlgo(t, algoMd(), script)).code).toBe(grpc.status.OK);
  const up = await uploadData(t, dataMd(), "local.csv", localCsv);
  expect(up.code, up.details + "\n" + hostView()).toBe(grpc.status.OK);
  await t.waitForState("ConsumingResults");
  const onDisk = readFileSync(join(t.dir, "results.zip"));
  const r = await download(t, "Result", resultMd());
  expect(r.code).toBe(grpc.status.OK);
  for (const b of [onDisk, r.bytes]) {
    expect(isSealed(b)).toBe(true);
    expect(b.includes(Buffer.from("local-row"))).toBe(false);
  }
  const { header, prefixBytes } = decodePrefix(r.bytes);
  expect(header.recipients.map((x) => x.kid)).toEqual([keyId(consumerKey)]);
  const cek = await unwrapWith(consumerKey, header.recipients[0]!);
  const d = createDecipheriv("aes-256-gcm", cek, Buffer.from(header.iv, "base64"));
  d.setAAD(r.bytes.subarray(0, prefixBytes));
  d.setAuthTag(r.bytes.subarray(r.bytes.length - 16));
  const zip = Buffer.concat([d.update(r.bytes.subarray(prefixBytes, r.bytes.length - 16)), d.final()]);
  expect(new TextDecoder().decode(unzipSync(new Uint8Array(zip))["local.csv"])).toBe(new TextDecoder().decode(localCsv));
  expect(hostView()).not.toContain("local-row");
});
