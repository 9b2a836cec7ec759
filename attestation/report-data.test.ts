import { expect, test } from "bun:test";
import { toHex } from "../protocol/hash.ts";
import { atlsReportData, explainAtlsMisbinding, REPORT_LABELS, reportData, rpcReportData, signedEvidence, unlabelledAtlsBinding } from "./report-data.ts";
import type { Evidence } from "./providers/types.ts";

const spki = new Uint8Array(294).fill(3);
const nonce = new Uint8Array(64).fill(9);

test("every context has its own label and yields different report data over the same inputs", () => {
  const labels = Object.values(REPORT_LABELS);
  expect(new Set(labels).size).toBe(labels.length);
  const all = (Object.keys(REPORT_LABELS) as (keyof typeof REPORT_LABELS)[]).map((c) => toHex(reportData(c, nonce)));
  expect(new Set(all).size).toBe(all.length);
  expect(toHex(rpcReportData(nonce))).not.toBe(toHex(nonce));
  expect(toHex(atlsReportData(spki, nonce))).not.toBe(toHex(unlabelledAtlsBinding(spki, nonce)));
});

test("length-prefixed: moving bytes between fields or into the label changes the digest", () => {
  const a = new Uint8Array([1, 2, 3]);
  const b = new Uint8Array([4]);
  expect(toHex(reportData("atls", a, b))).not.toBe(toHex(reportData("atls", new Uint8Array([1, 2]), new Uint8Array([3, 4]))));
  expect(toHex(reportData("atls", a, b))).not.toBe(toHex(reportData("atls", new Uint8Array([1, 2, 3, 4]))));
  // A field holding another label's text after this label does not reproduce that context.
  const rpcLabel = new TextEncoder().encode(REPORT_LABELS["attestation-rpc"]);
  expect(toHex(reportData("kbs", rpcLabel, nonce))).not.toBe(toHex(reportData("attestation-rpc", nonce)));
});

test("the RPC pads the nonce to 64 bytes (Cocos semantics) and refuses more", () => {
  expect(toHex(rpcReportData(new Uint8Array([1])))).toBe(toHex(reportData("attestation-rpc", new Uint8Array([1, ...new Array(63).fill(0)]))));
  expect(() => rpcReportData(new Uint8Array(65))).toThrow(/at most 64 bytes/);
});

test("signedEvidence hands the provider only the labelled digest", async () => {
  const seen: Uint8Array[] = [];
  const p = { kind: "sim" as const, getEvidence: async (rd: Uint8Array): Promise<Evidence> => (seen.push(rd), { kind: "sim", data: rd, source: "t", simulated: true }) };
  await signedEvidence(p, "atls", spki, nonce);
  expect(toHex(seen[0]!)).toBe(toHex(atlsReportData(spki, nonce)));
});

test("misbinding explained: RPC answer, unlabelled, or unknown", () => {
  expect(explainAtlsMisbinding(rpcReportData(unlabelledAtlsBinding(spki, nonce)), spki, nonce)?.producedFor).toBe("attestation-rpc");
  expect(explainAtlsMisbinding(rpcReportData(atlsReportData(spki, nonce)), spki, nonce)?.producedFor).toBe("attestation-rpc");
  expect(explainAtlsMisbinding(rpcReportData(nonce), spki, nonce)?.producedFor).toBe("attestation-rpc");
  expect(explainAtlsMisbinding(unlabelledAtlsBinding(spki, nonce), spki, nonce)?.producedFor).toBe("unlabelled");
  expect(explainAtlsMisbinding(new Uint8Array(64), spki, nonce)).toBeUndefined();
});

test("no agent or attestation code asks a provider for evidence except through signedEvidence", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const offenders: string[] = [];
  for (const dir of ["agent", "attestation"]) {
    for await (const f of new Bun.Glob("**/*.ts").scan({ cwd: root + dir })) {
      if (f.endsWith(".test.ts") || f === "report-data.ts" || f === "testkit.ts") continue;
      const text = await Bun.file(`${root}${dir}/${f}`).text();
      // A call `x.getEvidence(` (provider implementations declare `getEvidence(` without a receiver).
      if (/\.getEvidence\(/.test(text)) offenders.push(`${dir}/${f}`);
    }
  }
  expect(offenders).toEqual([]);
});

test("the shared (browser-safe, @noble/hashes) digest equals SHA3-512 over the length-prefixed encoding by Bun's native hasher", () => {
  const fields = [spki, nonce];
  const h = new Bun.CryptoHasher("sha3-512");
  for (const part of [new TextEncoder().encode(REPORT_LABELS.atls), ...fields]) {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, part.byteLength);
    h.update(len);
    h.update(part);
  }
  expect(toHex(reportData("atls", ...fields))).toBe(h.digest("hex"));
});
