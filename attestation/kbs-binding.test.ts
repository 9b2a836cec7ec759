import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { canonicalJson, kbsReportData, runtimeDataDigest, type KbsRuntimeData } from "./kbs-binding.ts";
import { atlsReportData, reportData, rpcReportData } from "./report-data.ts";

const rd: KbsRuntimeData = { nonce: "n0nce", "tee-pubkey": { kty: "EC", crv: "P-256", alg: "ECDH-ES+A256KW", x: "xx", y: "yy" } };

test("runtime data hashes as Trustee does: SHA-384 over RFC 8785 canonical JSON (sorted keys)", () => {
  expect(canonicalJson(rd)).toBe('{"nonce":"n0nce","tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"xx","y":"yy"}}');
  expect(Buffer.from(runtimeDataDigest(rd)).toString("hex")).toBe(createHash("sha384").update(canonicalJson(rd)).digest("hex"));
});

test("the KBS report data is labelled: not Trustee's raw digest, not another interface's", () => {
  const kbs = kbsReportData(rd);
  expect(kbs).toEqual(reportData("kbs", runtimeDataDigest(rd)));
  const raw = new Uint8Array(64);
  raw.set(runtimeDataDigest(rd));
  expect(kbs).not.toEqual(raw);
  expect(kbs).not.toEqual(rpcReportData(runtimeDataDigest(rd)));
  expect(kbs).not.toEqual(atlsReportData(runtimeDataDigest(rd), new Uint8Array(0)));
  // Another nonce or another TEE key is another binding.
  expect(kbsReportData({ ...rd, nonce: "other" })).not.toEqual(kbs);
  expect(kbsReportData({ ...rd, "tee-pubkey": { ...rd["tee-pubkey"], x: "xz" } })).not.toEqual(kbs);
});
