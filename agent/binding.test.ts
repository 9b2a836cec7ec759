// The manifest hash bound into launch evidence is checked at boot (Cocos v0.4: HOST_DATA).
import { afterEach, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { strToU8 } from "fflate";
import { manifestHash, type Manifest } from "../protocol/manifest.ts";
import { reportData, rpcReportData } from "../attestation/report-data.ts";
import { download, ed, startTestAgent, type TestAgent } from "./testkit.ts";

const algoKey = ed();
const script = strToU8("#!/bin/sh\n");
let t: TestAgent | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** An SNP-shaped report as a host (the QEMU backend) returns it: report data and HOST_DATA set. */
const asked: Uint8Array[] = [];
const reportWith = (hostData: (m: Manifest) => Uint8Array) => async (rd: Uint8Array, m: Manifest) => {
  asked.push(rd);
  const r = new Uint8Array(0x4a0);
  r.set(rd, 0x50);
  r.set(hostData(m), 0xc0);
  return r;
};
const spec = (hostReport: ReturnType<typeof reportWith>) => ({ algorithm: script, algoKey, datasets: [], consumers: [algoKey], config: { attestation: "host" as const }, hostReport });

test("launch evidence binding another manifest: the agent refuses to serve", async () => {
  await expect(startTestAgent(spec(reportWith(() => new Uint8Array(32).fill(7))))).rejects.toThrow(
    /manifest verification failed: launch HOST_DATA is (07){32}, SHA3-256 of the received manifest is [0-9a-f]{64}/,
  );
});

test("launch evidence binding this manifest: served, and the Attestation RPC uses the host's reports", async () => {
  t = await startTestAgent(spec(reportWith((m) => manifestHash(m))));
  expect(t.logs.some((l) => l.includes('"msg":"manifest binding"') && l.includes('"result":"bound"'))).toBe(true);
  // The boot self-check asked the host for a report under its own label, not a bare hash.
  expect(asked.some((rd) => Buffer.from(rd).equals(reportData("manifest-binding", new TextEncoder().encode(t!.manifest.id))))).toBe(true);
  const nonce = new Uint8Array(64).fill(5);
  const r = await download(t, "Attestation", new grpc.Metadata(), { teeNonce: nonce });
  expect(r.code).toBe(grpc.status.OK);
  // The report carries the RPC's label over the nonce, never the caller's bytes themselves (a relay
  // could otherwise ask for SHA3-512(its key ‖ a client's nonce) and pose as the agent).
  expect([...r.bytes.subarray(0x50, 0x90)]).toEqual([...rpcReportData(nonce)]);
  expect([...r.bytes.subarray(0x50, 0x90)]).not.toEqual([...nonce]);
  expect([...r.bytes.subarray(0xc0, 0xe0)]).toEqual([...manifestHash(t.manifest)]);
});

test("unbound (all-zero) launch data is accepted with a warning", async () => {
  t = await startTestAgent(spec(reportWith(() => new Uint8Array(32))));
  expect(t.logs.some((l) => l.includes("does not bind a manifest"))).toBe(true);
});

test("a manifest with a bad hash length, or for another computation, is refused at boot", async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { Agent } = await import("./agent.ts");
  const { loadConfig } = await import("./config.ts");
  const { publicKeyDer } = await import("../protocol/keys.ts");
  const dir = mkdtempSync(join(tmpdir(), "agent-bad-manifest-"));
  try {
    const key = Buffer.from(publicKeyDer(algoKey)).toString("base64");
    const file = join(dir, "m.json");
    const boot = (computationId?: string) =>
      new Agent({ config: { ...loadConfig({}, dir), computationId }, manifestFile: file, provider: null, logWrite: () => {} }).start();
    writeFileSync(file, JSON.stringify({ id: "x", algorithm: { hash: new Array(31).fill(1), user_key: key } }));
    await expect(boot()).rejects.toThrow(/manifest algorithm\.hash: expected 32 bytes \(SHA3-256\), got 31/);
    writeFileSync(file, JSON.stringify({ id: "x", algorithm: { hash: new Array(32).fill(1), user_key: "bm90IGEga2V5" } }));
    await expect(boot()).rejects.toThrow(/manifest algorithm\.user_key: not an accepted public key/);
    writeFileSync(file, JSON.stringify({ id: "x", algorithm: { hash: new Array(32).fill(1), user_key: key } }));
    await expect(boot("y")).rejects.toThrow(/expected computation id "y", received "x"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
