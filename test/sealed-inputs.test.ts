// Encrypted inputs through a real agent (testkit) and our KBS: the agent attests to the broker,
// gets each resource's key, decrypts the upload as it streams, and only then checks its SHA3-256.
// Every bad input is refused with what was expected and what arrived, the agent keeps running,
// and what it had already accepted stays accepted.
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { strToU8 } from "fflate";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { trustSimRoot } from "../attestation/policy.ts";
import { generateSimRoot, SimProvider, type SimRoot } from "../attestation/providers/sim.ts";
import { generateSealedKey, sealBytes } from "../protocol/sealed-file.ts";
import { kbsApp } from "../console/kbs/server.ts";
import { openKbsStore, type DbKbsStore } from "../console/kbs/store.ts";
import { ed, metadata, startTestAgent, uploadAlgo, uploadData, v2, type TestAgent } from "../agent/testkit.ts";

const { OK, INVALID_ARGUMENT, PERMISSION_DENIED, UNAVAILABLE } = grpc.status;
const algoKey = ed();
const dataKey = ed();
const consumerKey = ed();
const script = strToU8("#!/bin/sh\ncat datasets/* > results/out.txt\n");
const plainA = strToU8("sepal,petal\n5.1,1.4\n");
const plainB = strToU8("second, not encrypted\n");
const MEASUREMENT = new Uint8Array(48).fill(0x42);
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const keyA = generateSealedKey();
const keyAlgo = generateSealedKey();

let root: SimRoot;
let store: DbKbsStore;
let kbs: ReturnType<typeof Bun.serve>;
let kbsUrl: string;
let t: TestAgent;

beforeAll(async () => {
  root = generateSimRoot();
  store = await openKbsStore("sqlite::memory:");
  const policy = (m: Uint8Array) => trustSimRoot({ policy: { measurement: b64(m) } }, root.arkSha256);
  await store.put("default/key/a", keyA, policy(MEASUREMENT));
  await store.put("default/key/algo", keyAlgo, policy(MEASUREMENT));
  await store.put("default/key/elsewhere", keyA, policy(new Uint8Array(48).fill(0x99)));
  kbs = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: kbsApp({ store, adminToken: "x".repeat(16) }).fetch });
  kbsUrl = `http://127.0.0.1:${kbs.port}`;
});
afterAll(async () => {
  kbs.stop(true);
  await store.close();
});
afterEach(async () => {
  await t?.close();
});

/** An agent whose manifest declares the algorithm and dataset a.csv encrypted (b.csv plain). */
const start = (o: { kbsPath?: string; url?: string; algoEncrypted?: boolean; sourceUrl?: string } = {}) =>
  startTestAgent({
    algorithm: script,
    algoKey,
    datasets: [
      { bytes: plainA, filename: "a.csv", key: dataKey },
      { bytes: plainB, filename: "b.csv", key: dataKey },
    ],
    consumers: [consumerKey],
    provider: new SimProvider({ root, measurement: MEASUREMENT }),
    patchManifest: (m) => {
      m.datasets[0].source = { kbs_resource_path: o.kbsPath ?? "default/key/a", encrypted: true, ...(o.sourceUrl ? { url: o.sourceUrl } : {}) };
      m.datasets[0].kbs = { url: o.url ?? kbsUrl, enabled: true };
      if (o.algoEncrypted) {
        m.algorithm.source = { kbs_resource_path: "default/key/algo", encrypted: true };
        m.algorithm.kbs = { url: kbsUrl, enabled: true };
      }
    },
  });

const algoMd = () => metadata({ ...v2(algoKey, "algorithm-provider", "/agent.AgentService/Algo", t.manifest.id), algo_type: "bin" });
const dataMd = () => metadata({ ...v2(dataKey, "data-provider", "/agent.AgentService/Data", t.manifest.id), decompress: "false" });
const incoming = () => readdirSync(join(t.dir, ".incoming"));
/** Events travel over the host channel asynchronously: bounded wait. */
async function waitForEvent(type: string, status: string): Promise<void> {
  for (let i = 0; i < 200 && !t.events.some((e) => e.type === type && e.status === status); i++) await Bun.sleep(10);
  expect(t.events).toContainEqual({ type, status });
}

test("an encrypted algorithm and dataset are decrypted in the agent, checked against the manifest, stored as plaintext", async () => {
  t = await start({ algoEncrypted: true });
  expect((await uploadAlgo(t, algoMd(), sealBytes(keyAlgo, script))).code).toBe(OK);
  expect(new Uint8Array(readFileSync(join(t.dir, "algo")))).toEqual(script);
  const r = await uploadData(t, dataMd(), "a.csv", sealBytes(keyA, plainA));
  expect(r).toEqual({ code: OK, details: "" });
  expect(new Uint8Array(readFileSync(join(t.dir, "datasets", "a.csv")))).toEqual(plainA);
  expect(t.logs.some((l) => l.includes("key released by KBS"))).toBe(true);
  await waitForEvent("KeyRelease", "Completed");
  // Key material never reaches the agent's (host-visible) log.
  expect(t.logs.join("\n")).not.toContain(b64(keyA));
});

test("wrong key, truncated, tampered, plaintext-for-ciphertext: INVALID_ARGUMENT, nothing stored, then the right upload still works", async () => {
  t = await start();
  expect((await uploadAlgo(t, algoMd(), script)).code).toBe(OK);
  expect((await uploadData(t, dataMd(), "b.csv", plainB)).code).toBe(OK);
  const sealed = sealBytes(keyA, plainA);
  const tampered = sealed.slice();
  tampered[14]! ^= 0x80;
  for (const bad of [sealBytes(generateSealedKey(), plainA), sealed.subarray(0, sealed.length - 3), tampered, plainA]) {
    const r = await uploadData(t, dataMd(), "a.csv", bad);
    expect(r.code).toBe(INVALID_ARGUMENT);
    expect(r.details).toContain("dataset a.csv is declared encrypted in the manifest");
    expect(r.details).toMatch(/expected (ciphertext sealed with this resource's key|AES-256-GCM ciphertext of at least 28 bytes)/);
    expect(incoming()).toEqual([]);
    expect(existsSync(join(t.dir, "datasets", "a.csv"))).toBe(false);
    expect(t.agent.computation.state).toBe("ReceivingData");
  }
  // b.csv, accepted before the refusals, is still there; the right ciphertext completes the inputs.
  expect(readdirSync(join(t.dir, "datasets"))).toEqual(["b.csv"]);
  expect((await uploadData(t, dataMd(), "a.csv", sealed)).code).toBe(OK);
  await t.waitForState("ConsumingResults");
});

test("ciphertext where the manifest declares plaintext: the hash check refuses it", async () => {
  t = await start();
  expect((await uploadAlgo(t, algoMd(), script)).code).toBe(OK);
  const r = await uploadData(t, dataMd(), "b.csv", sealBytes(keyA, plainB));
  expect(r.code).toBe(INVALID_ARGUMENT);
  expect(r.details).toContain("not declared in computation manifest");
});

test("the KBS refuses the key (policy names another measurement): PERMISSION_DENIED naming the measurement; the agent keeps running", async () => {
  t = await start({ kbsPath: "default/key/elsewhere" });
  expect((await uploadAlgo(t, algoMd(), script)).code).toBe(OK);
  const r = await uploadData(t, dataMd(), "a.csv", sealBytes(keyA, plainA));
  expect(r.code).toBe(PERMISSION_DENIED);
  expect(r.details).toContain("key release for dataset a.csv failed");
  expect(r.details).toContain("measurement");
  expect(t.agent.computation.state).toBe("ReceivingData");
  expect((await uploadData(t, dataMd(), "b.csv", plainB)).code).toBe(OK);
});

test("the KBS is down: bounded retries logged, UNAVAILABLE, no hang", async () => {
  const dead = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const url = `http://127.0.0.1:${dead.port}`;
  dead.stop(true);
  t = await start({ url });
  expect((await uploadAlgo(t, algoMd(), script)).code).toBe(OK);
  const r = await uploadData(t, dataMd(), "a.csv", sealBytes(keyA, plainA));
  expect(r.code).toBe(UNAVAILABLE);
  expect(r.details).toContain("gave up after 3 attempts");
  expect(t.logs.filter((l) => l.includes("KBS unreachable, retrying"))).toHaveLength(2);
  await waitForEvent("KeyRelease", "Failed");
  expect(t.events.filter((e) => e.type === "KeyRelease").map((e) => e.status)).toEqual(["Retrying", "Retrying", "Failed"]);
  expect(t.agent.computation.state).toBe("ReceivingData");
});

test("a remote source of an encrypted dataset takes the same path: decrypted as it is fetched; plaintext or tampered bytes from the source are refused, the upload still works", async () => {
  const sealed = sealBytes(keyA, plainA);
  const tampered = sealed.slice();
  tampered[20]! ^= 0x01;
  const bodies: Record<string, Uint8Array> = { "/sealed": sealed, "/plain": plainA, "/tampered": tampered };
  const source = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(bodies[new URL(req.url).pathname] ?? null, { status: bodies[new URL(req.url).pathname] ? 200 : 404 }) });
  try {
    t = await start({ sourceUrl: `http://127.0.0.1:${source.port}/sealed` });
    expect((await uploadAlgo(t, algoMd(), script)).code).toBe(OK);
    for (let i = 0; i < 200 && !t.logs.some((l) => l.includes("remote dataset received")); i++) await Bun.sleep(10);
    expect(new Uint8Array(readFileSync(join(t.dir, "datasets", "a.csv")))).toEqual(plainA);
    await t.close();
    for (const bad of ["/plain", "/tampered"]) {
      t = await start({ sourceUrl: `http://127.0.0.1:${source.port}${bad}` });
      expect((await uploadAlgo(t, algoMd(), script)).code).toBe(OK);
      for (let i = 0; i < 200 && !t.logs.some((l) => l.includes("remote dataset refused")); i++) await Bun.sleep(10);
      expect(t.logs.join("\n")).toContain("dataset a.csv is declared encrypted in the manifest");
      expect(incoming()).toEqual([]);
      expect(existsSync(join(t.dir, "datasets", "a.csv"))).toBe(false);
      expect((await uploadData(t, dataMd(), "a.csv", sealed)).code).toBe(OK);
      await t.close();
    }
  } finally {
    source.stop(true);
  }
});
