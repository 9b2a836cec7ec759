// The attestation page's verification (run here on Bun's WebCrypto; the browser test runs it in
// Chromium): what the console relays passes only when it is the agent's answer to this page's nonce
// under a policy that pins host_data to the manifest this page hashed.
import { expect, test } from "bun:test";
import { generateSimRoot, simReport } from "../../attestation/providers/sim.ts";
import { buildCertTable } from "../../attestation/snp/certtable.ts";
import { setHostData, setMeasurement, trustSimRoot } from "../../attestation/policy-json.ts";
import { rpcReportData } from "../../attestation/browser/report-data.ts";
import { freshNonce, groupChecks, hostDataCheck, manifestHashOf, toHex, verifyRelayed, type Relayed } from "./attest.ts";

const manifestJson = JSON.stringify({ id: "c1", name: "Iris" });
const manifestHash = manifestHashOf(manifestJson);
const root = generateSimRoot();

function relayFor(nonce: Uint8Array, o: { hostData?: string } = {}): Relayed {
  const hostData = Uint8Array.from(Buffer.from(o.hostData ?? manifestHash, "hex"));
  const measurement = new Uint8Array(48).fill(7);
  const report = simReport(root, rpcReportData(nonce), { hostData, measurement });
  const evidence = new Uint8Array([...report, ...buildCertTable({ ark: root.arkDer, ask: root.askDer, vcek: root.vcekDer })]);
  return { evidence_base64: Buffer.from(evidence).toString("base64"), policy: setMeasurement(setHostData(trustSimRoot({}, root.arkSha256), hostData), measurement), manifest_sha3_256: manifestHash, nonce: toHex(nonce) };
}

test("the manifest hash is SHA3-256 of the JSON text", () => {
  expect(manifestHashOf(manifestJson)).toBe(new Bun.CryptoHasher("sha3-256").update(manifestJson).digest("hex"));
});

test("the agent's answer to this page's nonce passes every check group, marked simulated", async () => {
  const nonce = freshNonce();
  const out = await verifyRelayed(relayFor(nonce), nonce, manifestHash);
  expect(out.verdict.reason).toBeUndefined();
  expect(out.ok).toBe(true);
  expect(out.verdict.simulated).toBe(true);
  const groups = groupChecks([...out.verdict.checks, out.hostData]);
  expect(groups.map((g) => [g.title, g.state])).toEqual(groups.map((g) => [g.title, "passed"]));
});

test("relay adversary: evidence for another nonce (a replay) fails the report-data check", async () => {
  const out = await verifyRelayed(relayFor(freshNonce()), freshNonce(), manifestHash);
  expect(out.ok).toBe(false);
  expect(out.verdict.code).toBe("snp.report_data_mismatch");
});

test("relay adversary: one flipped byte in the signed report fails the signature check", async () => {
  const nonce = freshNonce();
  const r = relayFor(nonce);
  const ev = Buffer.from(r.evidence_base64, "base64");
  ev[0x100]! ^= 1;
  const out = await verifyRelayed({ ...r, evidence_base64: ev.toString("base64") }, nonce, manifestHash);
  expect(out.ok).toBe(false);
  expect(groupChecks(out.verdict.checks).find((g) => g.title === "Report signature")!.state).toBe("failed");
});

test("console adversary: a policy (and report) for another manifest fails the page's host_data check", async () => {
  const nonce = freshNonce();
  const other = manifestHashOf("{}");
  const out = await verifyRelayed(relayFor(nonce, { hostData: other }), nonce, manifestHash);
  expect(out.verdict.ok).toBe(true); // consistent evidence and policy, but not for the manifest shown
  expect(out.hostData.ok).toBe(false);
  expect(out.ok).toBe(false);
  expect(hostDataCheck(null, manifestHash).ok).toBe(false);
});
