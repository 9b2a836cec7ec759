import { expect, test } from "bun:test";
import { generateSimRoot } from "../attestation/providers/sim.ts";
import { parseReport, REPORT_SIZE } from "../attestation/snp/report.ts";
import type { VmInfo } from "./backend.ts";
import { simMeasurement } from "./measurement.ts";
import { SimSecureProcessor } from "./sim-attestation.ts";

const root = generateSimRoot();
const measurement = simMeasurement({ kernelSha256: new Uint8Array(32).fill(1), initrdSha256: new Uint8Array(32).fill(2), cmdline: "console=ttyS0" });
const vm = (extra: Record<string, unknown> = { measurement: Buffer.from(measurement).toString("hex") }): VmInfo => ({
  id: "qemu-1",
  backend: "qemu",
  computationId: "c1",
  agentPort: 6100,
  pid: 1,
  channelPaths: { manifest: "/m", events: "/e" },
  workDir: "/w",
  manifestHash: "ab".repeat(32),
  startedAt: new Date(0).toISOString(),
  extra,
});

test("report carries the launch measurement and manifest hash chosen by the manager, and the guest's report data", async () => {
  const sp = new SimSecureProcessor(root);
  const res = await sp.answer(vm(), { request_id: 9, report_data: new Uint8Array(64).fill(5) });
  expect(res.error).toBe("");
  expect(res.request_id).toBe(9);
  const parsed = parseReport(res.report.subarray(0, REPORT_SIZE));
  if (!parsed.ok) throw new Error(parsed.detail);
  expect(Buffer.from(parsed.report.measurement).equals(Buffer.from(measurement))).toBe(true);
  expect(Buffer.from(parsed.report.hostData).toString("hex")).toBe("ab".repeat(32));
  expect([...parsed.report.reportData]).toEqual(new Array(64).fill(5));
  expect(res.report.length).toBeGreaterThan(REPORT_SIZE); // certificate table follows
});

test("refusals come back as errors, not exceptions", async () => {
  const sp = new SimSecureProcessor(root);
  expect((await sp.answer(vm(), { request_id: 1, report_data: new Uint8Array(65) })).error).toMatch(/at most 64 bytes, got 65/);
  expect((await sp.answer(vm({}), { request_id: 2, report_data: new Uint8Array(1) })).error).toMatch(/recorded no launch measurement/);
  const r = await sp.answer({ ...vm(), manifestHash: "zz" }, { request_id: 3, report_data: new Uint8Array(1) });
  expect(r.error).toMatch(/expected a 32-byte hex manifest hash/);
  expect(r.report.length).toBe(0);
});
