import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSimRoot, simReport } from "../attestation/providers/sim.ts";
import { trustSimRoot, formatPolicy } from "../attestation/policy.ts";
import { buildCertTable } from "../attestation/snp/certtable.ts";
import type { CliContext } from "./context.ts";
import { runCli } from "./program.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cocos-att-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { out: (l) => out.push(l), err: (l) => err.push(l), cwd: dir, env: {}, tty: false };
  const r = await runCli(argv, ctx);
  return { code: r.code, out: out.join("\n"), err: err.join("\n") };
}

describe("attestation validate + policy editing (sim evidence)", () => {
  const hostData = new Uint8Array(32).fill(0xab);
  const reportData = new Uint8Array(64).fill(0x11);
  const measurement = new Uint8Array(48).fill(0x22);

  beforeAll(() => {
    const root = generateSimRoot();
    // Report followed by its certificate table (ARK, ASK, VCEK), as the sim provider hands it out.
    const table = buildCertTable({ ark: root.arkDer, ask: root.askDer, vcek: root.vcekDer });
    writeFileSync(join(dir, "attestation.bin"), Buffer.concat([simReport(root, reportData, { hostData, measurement }), table]));
    writeFileSync(join(dir, "vcek.der"), root.vcekDer);
    writeFileSync(join(dir, "policy.json"), formatPolicy(trustSimRoot({}, root.arkSha256)));
  });

  test("policy hostdata / measurement rewrite the file (base64 or hex)", async () => {
    expect((await cli(["policy", "hostdata", Buffer.from(hostData).toString("base64"), "policy.json"])).code).toBe(0);
    expect((await cli(["policy", "measurement", Buffer.from(measurement).toString("hex"), "policy.json"])).code).toBe(0);
    const p = JSON.parse(readFileSync(join(dir, "policy.json"), "utf8"));
    expect(p.policy.host_data).toBe(Buffer.from(hostData).toString("base64"));
    expect(p.policy.measurement).toBe(Buffer.from(measurement).toString("base64"));
    const bad = await cli(["policy", "measurement", "abcd", "policy.json"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("48 bytes");
  });

  test("evidence matching the policy verifies (labelled SIMULATED)", async () => {
    const r = await cli(["attestation", "validate", "attestation.bin", "--policy", "policy.json", "--vcek", "vcek.der", "--report_data", Buffer.from(reportData).toString("hex")]);
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    expect(r.out).toContain("SIMULATED");
    expect(r.out).toContain("Attestation validation and verification is successful!");
  });

  test("a different expected host data (another manifest) fails with a non-zero exit", async () => {
    const r = await cli([
      "attestation", "validate", "attestation.bin", "--policy", "policy.json", "--vcek", "vcek.der",
      "--report_data", Buffer.from(reportData).toString("hex"), "--host_data", "cd".repeat(32),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("FAIL");
    expect(r.err).toContain("attestation validation and verification failed");
  });

  test("wrong report data fails", async () => {
    const r = await cli(["attestation", "validate", "attestation.bin", "--policy", "policy.json", "--vcek", "vcek.der", "--report_data", "00".repeat(64)]);
    expect(r.code).not.toBe(0);
  });
});
