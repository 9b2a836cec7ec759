// The upload key: bound into evidence (and only into upload-key evidence), and sealed uploads that
// open only for the computation, input and signature they were made for.
import { afterEach, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { verifyEvidenceInBrowser } from "../attestation/browser/index.ts";
import { MD_REPORT_PURPOSE, MD_TLS_SPKI_SHA3, MD_UPLOAD_KEY, uploadInfo, uploadKeyReportData, wrapUploadKey } from "../attestation/browser/upload-key.ts";
import { setHostData, trustSimRoot } from "../attestation/policy.ts";
import { generateSimRoot, SimProvider } from "../attestation/providers/sim.ts";
import { rpcReportData } from "../attestation/report-data.ts";
import { verifySnp } from "../attestation/snp/verify.ts";
import { generateSealedKey, sealBytes } from "../protocol/sealed-file.ts";
import { signRequest } from "../protocol/signature.ts";
import { ed, metadata, startTestAgent, uploadAlgo, uploadData, v1, type TestAgent } from "./testkit.ts";
import { UploadKey } from "./upload-key.ts";

const { OK, UNAUTHENTICATED, INVALID_ARGUMENT } = grpc.status;
const algoKey = ed();
const dataKey = ed();
const consumerKey = ed();
const script = new TextEncoder().encode("#!/bin/sh\necho ok > results/out.txt\n");
const ROW = "5.1,3.5,1.4,0.2,upload-key-test-secret-row\n";
const plain = new TextEncoder().encode(ROW.repeat(50));
const DATA = "/agent.AgentService/Data";
const root = generateSimRoot();
const hostData = new Uint8Array(32).fill(7);

let t: TestAgent;
afterEach(async () => {
  await t?.close();
});

const fresh = () =>
  startTestAgent({
    algorithm: script,
    algoKey,
    datasets: [{ bytes: plain, filename: "iris.csv", key: dataKey }],
    consumers: [consumerKey],
    provider: new SimProvider({ root, hostData }),
  });

/** The Attestation RPC with a purpose, returning the evidence and the response metadata. */
function attest(purpose: string | null, nonce: Uint8Array): Promise<{ code: number; details: string; evidence: Buffer; key: string; spki: string }> {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    if (purpose !== null) md.set(MD_REPORT_PURPOSE, purpose);
    const call = t.client.Attestation({ teeNonce: nonce, type: 0 }, md);
    const parts: Buffer[] = [];
    let head = new grpc.Metadata();
    call.on("metadata", (m: grpc.Metadata) => (head = m));
    call.on("data", (d: { file: Buffer }) => parts.push(d.file));
    call.on("error", () => {});
    call.on("status", (s: grpc.StatusObject) =>
      resolve({ code: s.code, details: s.details, evidence: Buffer.concat(parts), key: String(head.get(MD_UPLOAD_KEY)[0] ?? ""), spki: String(head.get(MD_TLS_SPKI_SHA3)[0] ?? "") }),
    );
  });
}

// A fresh object per verification: a verifier may normalise the policy it is given.
const policy = () => setHostData(trustSimRoot({}, root.arkSha256), hostData);
const verify = (evidence: Uint8Array, expectedReportData: Uint8Array) => verifyEvidenceInBrowser(evidence, policy(), { expectedReportData });
const reportDataCheck = (v: Awaited<ReturnType<typeof verify>>) => v.checks.find((c) => c.name === "snp.report_data_mismatch" || c.name === "snp.report_data");

/** What the console's page does: a fresh AES key for the file, wrapped to the agent's upload key, and a v2 signature over it. */
async function sealedRequest(o: { publicKey: Uint8Array; computationId: string; name: string; signFor?: string; wrapComputation?: string; wrapName?: string }) {
  const aes = generateSealedKey();
  const wrapped = await wrapUploadKey(o.publicKey, aes, uploadInfo(o.wrapComputation ?? o.computationId, "data-provider", o.wrapName ?? o.name));
  const sealedKey = Buffer.from(wrapped).toString("base64");
  const md = signRequest(dataKey, { role: "data-provider", method: DATA, computationId: o.signFor ?? o.computationId, sealedKey });
  return { md, sealedKey, ciphertext: sealBytes(aes, plain) };
}

describe("upload key in evidence", () => {
  test("upload-key evidence binds (nonce, key, TLS SPKI hash) under its own label; node and browser verifiers agree", async () => {
    t = await fresh();
    const nonce = crypto.getRandomValues(new Uint8Array(64));
    const r = await attest("upload-key", nonce);
    expect(r.code).toBe(OK);
    const key = new Uint8Array(Buffer.from(r.key, "base64"));
    expect(key.length).toBe(65);
    expect(r.spki).toBe(""); // this test agent serves without TLS: no audience to bind
    const expected = uploadKeyReportData(nonce, key, new Uint8Array(0));
    expect([...r.evidence.subarray(0x50, 0x90)]).toEqual([...expected]);
    const before = Buffer.from(r.evidence);
    expect((await verify(r.evidence, expected)).ok).toBe(true);
    expect(r.evidence.equals(before)).toBe(true); // verifying a Buffer leaves it as it was (certtable.ts once reordered GUIDs in place)
    expect(verifySnp(r.evidence, { policy: policy(), expectedReportData: expected }).ok).toBe(true);
  });

  test("adversary relay: upload-key evidence does not pass as Attestation-RPC evidence, nor the reverse, nor with the key replaced", async () => {
    t = await fresh();
    const nonce = crypto.getRandomValues(new Uint8Array(64));
    const up = await attest("upload-key", nonce);
    const key = new Uint8Array(Buffer.from(up.key, "base64"));
    const asRpc = await verify(up.evidence, rpcReportData(nonce));
    expect(asRpc.ok).toBe(false);
    expect(reportDataCheck(asRpc)?.ok).toBe(false);
    // The RPC's own evidence for the same nonce, presented with the agent's real key as upload-key evidence.
    const rpc = await attest(null, nonce);
    expect(rpc.key).toBe("");
    const asUpload = await verify(rpc.evidence, uploadKeyReportData(nonce, key, new Uint8Array(0)));
    expect(asUpload.ok).toBe(false);
    expect(reportDataCheck(asUpload)?.ok).toBe(false);
    // The relay hands the page its own key next to genuine evidence: the binding no longer holds.
    const relayKey = await new UploadKey().publicKey();
    const swapped = await verify(up.evidence, uploadKeyReportData(nonce, relayKey, new Uint8Array(0)));
    expect(swapped.ok).toBe(false);
    expect(reportDataCheck(swapped)?.ok).toBe(false);
    // A relay that binds another TLS key (to redirect the signature audience) fails the same way.
    expect((await verify(up.evidence, uploadKeyReportData(nonce, key, new Uint8Array(32).fill(1)))).ok).toBe(false);
    const unknown = await attest("kbs", nonce);
    expect(unknown.code).toBe(INVALID_ARGUMENT);
    expect(unknown.details).toContain('unknown report purpose "kbs"');
  });

  test("a new key per boot; the private half is not in the agent's logs", async () => {
    t = await fresh();
    const a = await attest("upload-key", new Uint8Array(8));
    await t.close();
    t = await fresh();
    const b = await attest("upload-key", new Uint8Array(8));
    expect(a.key).not.toBe(b.key);
    expect(t.logs.join("\n")).not.toContain(b.key);
  });
});

describe("sealed uploads", () => {
  async function ready(): Promise<Uint8Array> {
    t = await fresh();
    const algoMd = metadata({ ...signRequest(algoKey, { role: "algorithm-provider", method: "/agent.AgentService/Algo", computationId: t.manifest.id }), algo_type: "bin" });
    expect((await uploadAlgo(t, algoMd, script)).code).toBe(OK);
    return new Uint8Array(Buffer.from((await attest("upload-key", new Uint8Array(8))).key, "base64"));
  }
  const stored = () => join(t.dir, "datasets", "iris.csv");

  test("a sealed dataset is decrypted in the agent and checked against the manifest hash; the wire bytes are not the plaintext", async () => {
    const publicKey = await ready();
    const r = await sealedRequest({ publicKey, computationId: t.manifest.id, name: "iris.csv" });
    expect(Buffer.from(r.ciphertext).includes(ROW)).toBe(false);
    expect((await uploadData(t, metadata(r.md), "iris.csv", r.ciphertext)).code).toBe(OK);
    expect(readFileSync(stored(), "utf8")).toBe(ROW.repeat(50));
  });

  test("adversary relay: a sealed key swapped for its own (re-encrypted ciphertext) fails the signature", async () => {
    const publicKey = await ready();
    const party = await sealedRequest({ publicKey, computationId: t.manifest.id, name: "iris.csv" });
    const relay = await sealedRequest({ publicKey, computationId: t.manifest.id, name: "iris.csv" });
    const r = await uploadData(t, metadata({ ...party.md, "cocos-sealed-key": relay.sealedKey }), "iris.csv", relay.ciphertext);
    expect(r.code).toBe(UNAUTHENTICATED);
    expect(r.details).toContain("signature verification failed");
    // Dropping the sealed key (to pass the ciphertext off as plaintext) breaks the signature too.
    const fresh2 = await sealedRequest({ publicKey, computationId: t.manifest.id, name: "iris.csv" });
    const { "cocos-sealed-key": _, ...stripped } = fresh2.md;
    expect((await uploadData(t, metadata(stripped), "iris.csv", fresh2.ciphertext)).code).toBe(UNAUTHENTICATED);
    expect(existsSync(stored())).toBe(false);
  });

  test("adversary relay: a flipped ciphertext byte fails the GCM tag, nothing is stored", async () => {
    const publicKey = await ready();
    const r = await sealedRequest({ publicKey, computationId: t.manifest.id, name: "iris.csv" });
    r.ciphertext[40]! ^= 1;
    const res = await uploadData(t, metadata(r.md), "iris.csv", r.ciphertext);
    expect(res.code).toBe(INVALID_ARGUMENT);
    expect(res.details).toMatch(/dataset iris\.csv was sealed to the upload key: .*(tag|authenticat)/i);
    expect(existsSync(stored())).toBe(false);
  });

  test("adversary: a sealed key made for another computation or another input does not open (even freshly signed)", async () => {
    const publicKey = await ready();
    for (const other of [{ wrapComputation: "another-computation" }, { wrapName: "other.csv" }]) {
      const r = await sealedRequest({ publicKey, computationId: t.manifest.id, name: "iris.csv", ...other });
      const res = await uploadData(t, metadata(r.md), "iris.csv", r.ciphertext);
      expect(res.code).toBe(INVALID_ARGUMENT);
      expect(res.details).toContain("does not open with this agent's upload key for this computation and input");
    }
    // A key sealed to another boot's upload key.
    const other = await sealedRequest({ publicKey: await new UploadKey().publicKey(), computationId: t.manifest.id, name: "iris.csv" });
    expect((await uploadData(t, metadata(other.md), "iris.csv", other.ciphertext)).code).toBe(INVALID_ARGUMENT);
    expect(existsSync(stored())).toBe(false);
    // The right one still goes through afterwards.
    const ok = await sealedRequest({ publicKey, computationId: t.manifest.id, name: "iris.csv" });
    expect((await uploadData(t, metadata(ok.md), "iris.csv", ok.ciphertext)).code).toBe(OK);
  });

  test("a sealed algorithm opens only as the algorithm (its key is bound to role and name)", async () => {
    t = await fresh();
    const publicKey = new Uint8Array(Buffer.from((await attest("upload-key", new Uint8Array(8))).key, "base64"));
    const ALGO = "/agent.AgentService/Algo";
    const send = async (role: "algorithm-provider" | "data-provider", name: string) => {
      const aes = generateSealedKey();
      const sealedKey = Buffer.from(await wrapUploadKey(publicKey, aes, uploadInfo(t.manifest.id, role, name))).toString("base64");
      const md = metadata({ ...signRequest(algoKey, { role: "algorithm-provider", method: ALGO, computationId: t.manifest.id, sealedKey }), algo_type: "bin" });
      return uploadAlgo(t, md, sealBytes(aes, script));
    };
    const wrongRole = await send("data-provider", "algorithm");
    expect(wrongRole.code).toBe(INVALID_ARGUMENT);
    expect(wrongRole.details).toContain("does not open");
    expect((await send("algorithm-provider", "algorithm")).code).toBe(OK);
    expect(readFileSync(join(t.dir, "algo"), "utf8")).toBe(new TextDecoder().decode(script));
  });

  test("a sealed upload with a v1 signature (which cannot cover the sealed key) is refused", async () => {
    const publicKey = await ready();
    const r = await sealedRequest({ publicKey, computationId: t.manifest.id, name: "iris.csv" });
    const res = await uploadData(t, metadata({ ...v1(dataKey, "data-provider"), "cocos-sealed-key": r.sealedKey }), "iris.csv", r.ciphertext);
    expect(res.code).toBe(UNAUTHENTICATED);
    expect(res.details).toContain("needs a v2 signature");
  });
});
