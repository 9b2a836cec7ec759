import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ConfigfsTsmProvider } from "./configfs.ts";
import { SimProvider, loadOrCreateSimRoot } from "./sim.ts";
import { createProvider, detectProvider } from "./index.ts";
import { verifySnp } from "../snp/verify.ts";
import { verifyTdx } from "../tdx/verify.ts";
import { trustSimRoot } from "../policy.ts";
import { buildCertTable } from "../snp/certtable.ts";
import { pemToDer, toBase64 } from "../bytes.ts";
import { snpFile, snpText, tdxFile } from "../testdata/load.ts";

const tmp = mkdtempSync(join(tmpdir(), "att-providers-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A directory laid out like /sys/kernel/config/tsm/report/<entry> after the kernel populated it. */
function fakeTsm(name: string, provider: string, outblob: Uint8Array, auxblob?: Uint8Array) {
  const root = join(tmp, name);
  const entry = join(root, "cocos-agent");
  mkdirSync(entry, { recursive: true });
  writeFileSync(join(entry, "provider"), provider + "\n");
  writeFileSync(join(entry, "generation"), "1\n");
  writeFileSync(join(entry, "outblob"), outblob);
  if (auxblob) writeFileSync(join(entry, "auxblob"), auxblob);
  return { root, entry };
}

describe("configfs-tsm provider", () => {
  test("SEV-SNP: writes inblob, serves outblob ‖ auxblob (real report + certificate table)", async () => {
    const [ask, ark] = pemToDer(snpText("amd_milan_ask_ark.pem"));
    const aux = buildCertTable({ vcek: snpFile("trustee_milan_vcek.der"), ask, ark });
    const { root, entry } = fakeTsm("snp", "sev_guest", snpFile("trustee_milan_v2_report.bin"), aux);
    const p = new ConfigfsTsmProvider({ root, entryName: "cocos-agent", privlevel: 0 });
    expect(p.kind).toBe("snp");
    const nonce = new Uint8Array(64).fill(0x5a);
    const ev = await p.getEvidence(nonce);
    expect(new Uint8Array(readFileSync(join(entry, "inblob")))).toEqual(nonce);
    expect(readFileSync(join(entry, "privlevel"), "utf8")).toBe("0");
    expect(ev.source).toBe("configfs-tsm:sev_guest");
    expect(ev.data.length).toBe(1184 + aux.length);
    const v = verifySnp(ev.data, { policy: { root_of_trust: { product: "Milan" } } });
    expect(v.ok).toBe(true);
    expect(v.simulated).toBe(false);
  });

  test("TDX: serves the quote", async () => {
    const { root } = fakeTsm("tdx", "tdx_guest", tdxFile("trustee_quote_v5.dat"));
    const p = createProvider("tdx", { configfs: { root, entryName: "cocos-agent" } });
    expect(p.kind).toBe("tdx");
    const ev = await p.getEvidence(new Uint8Array(8));
    expect(verifyTdx(ev.data).ok).toBe(true);
    expect(() => createProvider("snp", { configfs: { root, entryName: "cocos-agent" } })).toThrow(/snp requested, but configfs-tsm .* serves tdx/);
  });

  test("unknown provider and report data over 64 bytes are refused", async () => {
    const { root } = fakeTsm("weird", "arm_cca", new Uint8Array(10));
    expect(() => new ConfigfsTsmProvider({ root, entryName: "cocos-agent" })).toThrow(/expected provider sev_guest or tdx_guest .* got "arm_cca"/);
    const ok = fakeTsm("snp2", "sev_guest", snpFile("trustee_milan_v2_report.bin"));
    const p = new ConfigfsTsmProvider({ root: ok.root, entryName: "cocos-agent" });
    await expect(p.getEvidence(new Uint8Array(65))).rejects.toThrow(/at most 64 bytes, got 65/);
  });

  test("detectProvider: configfs when present, sim only when allowed", () => {
    const { root } = fakeTsm("detect", "sev_guest", snpFile("trustee_milan_v2_report.bin"));
    expect(detectProvider({ configfs: { root, entryName: "cocos-agent" } })?.kind).toBe("snp");
    const none = { configfs: { root: join(tmp, "absent") }, sevGuestDevice: join(tmp, "no-sev-guest") };
    expect(detectProvider(none)).toBeUndefined();
    expect(detectProvider({ ...none, allowSim: true, sim: { stateDir: join(tmp, "simstate-detect") } })?.kind).toBe("sim");
    expect(() => createProvider("snp", none)).toThrow(/neither/);
  });
});

describe("sim provider", () => {
  test("round trip: measurement, host_data and nonce carried, verified only with the pinned sim root", async () => {
    const stateDir = join(tmp, "sim-state");
    const measurement = new Uint8Array(48).fill(0x42);
    const hostData = new Uint8Array(32).fill(0x24);
    const p = new SimProvider({ stateDir, measurement, hostData });
    const nonce = new Uint8Array(64).map((_, i) => i);
    const ev = await p.getEvidence(nonce);
    expect(ev.simulated).toBe(true);
    const policy = trustSimRoot({ policy: { measurement: toBase64(measurement), host_data: toBase64(hostData) } }, p.root.arkSha256);
    const v = verifySnp(ev.data, { policy, expectedReportData: nonce });
    expect(v.reason).toBeUndefined();
    expect(v.ok && v.simulated).toBe(true);
    expect(verifySnp(ev.data, { policy: { policy: policy.policy } }).code).toBe("snp.sim_root_not_trusted");
    expect(verifySnp(ev.data, { policy, expectedReportData: new Uint8Array(64) }).code).toBe("snp.report_data_mismatch");
  });

  test("keys persist in the state dir, so a pinned policy survives a restart", async () => {
    const stateDir = join(tmp, "sim-persist");
    const a = loadOrCreateSimRoot(stateDir);
    const b = new SimProvider({ stateDir });
    expect(b.root.arkSha256).toBe(a.arkSha256);
    const ev = await b.getEvidence(new Uint8Array(64));
    expect(verifySnp(ev.data, { policy: trustSimRoot({}, a.arkSha256) }).ok).toBe(true);
    const other = new SimProvider({ stateDir: join(tmp, "sim-other") });
    expect(verifySnp((await other.getEvidence(new Uint8Array(64))).data, { policy: trustSimRoot({}, a.arkSha256) }).code).toBe("snp.sim_root_not_trusted");
  });

  test("a sim report cannot pass as real AMD evidence", async () => {
    const p = new SimProvider({ stateDir: join(tmp, "sim-state") });
    const ev = await p.getEvidence(new Uint8Array(64));
    expect(verifySnp(ev.data, { policy: { root_of_trust: { product: "Milan" } } }).code).toBe("snp.product_mismatch");
  });
});
