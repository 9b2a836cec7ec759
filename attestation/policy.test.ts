import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { formatPolicy, parsePolicy, readPolicy, setHostData, setMeasurement, trustSimRoot, writePolicy, hostDataForManifest, type AttestationPolicy } from "./policy.ts";
import { generateSimRoot, simReport } from "./providers/sim.ts";
import { buildCertTable } from "./snp/certtable.ts";
import { verifySnp } from "./snp/verify.ts";
import { verifyTdx, tdxClaims } from "./tdx/verify.ts";
import { parseQuote } from "./tdx/quote.ts";
import { encodeTcb } from "./snp/report.ts";
import { fromBase64, toBase64, toHex } from "./bytes.ts";
import { tdxFile } from "./testdata/load.ts";

// The Cocos v0.5 sample policy shape (cocos-agent §6.4).
const COCOS_POLICY = `{
  "pcr_values": { "sha256": { "0": "aa" }, "sha384": {} },
  "policy": { "policy": 196608, "family_id": "AAAAAAAAAAAAAAAAAAAAAA==", "image_id": "AAAAAAAAAAAAAAAAAAAAAA==", "vmpl": 2,
    "minimum_tcb": 15352208179752599555, "minimum_launch_tcb": 15352208179752599555, "require_author_key": false,
    "measurement": "${toBase64(new Uint8Array(48).fill(1))}", "host_data": "${toBase64(new Uint8Array(32))}",
    "report_id_ma": "${toBase64(new Uint8Array(32).fill(255))}", "chip_id": "${toBase64(new Uint8Array(64).fill(2))}",
    "minimum_build": 8, "minimum_version": "1.55", "permit_provisional_firmware": true, "require_id_block": false, "product": { "name": 1 } },
  "root_of_trust": { "product": "Milan", "check_crl": true, "disallow_network": false, "product_line": "Milan" }
}`;

describe("policy JSON", () => {
  test("reads the Cocos policy, including lowerCamelCase keys written by protojson", () => {
    const p = parsePolicy(COCOS_POLICY);
    expect(p.policy?.vmpl).toBe(2);
    expect(p.root_of_trust?.product).toBe("Milan");
    expect(p.pcr_values?.sha256?.["0"]).toBe("aa");
    const camel = parsePolicy(`{"policy":{"hostData":"${toBase64(new Uint8Array(32).fill(7))}","minimumTcb":"1"},"rootOfTrust":{"productLine":"Genoa"}}`);
    expect(camel.policy?.host_data).toBe(toBase64(new Uint8Array(32).fill(7)));
    expect(camel.root_of_trust?.product_line).toBe("Genoa");
  });

  test("bad JSON says what arrived", () => {
    expect(() => parsePolicy("[1]")).toThrow(/expected a JSON object, got an array/);
    expect(() => parsePolicy("{")).toThrow(/expected JSON/);
  });

  test("setMeasurement / setHostData accept hex or base64 and write base64; wrong sizes are refused", async () => {
    let p = parsePolicy(COCOS_POLICY);
    p = setMeasurement(p, "ab".repeat(48));
    p = setHostData(p, toBase64(new Uint8Array(32).fill(9)));
    expect(fromBase64(p.policy!.measurement!)).toEqual(new Uint8Array(48).fill(0xab));
    expect(fromBase64(p.policy!.host_data!)).toEqual(new Uint8Array(32).fill(9));
    expect(() => setHostData(p, "abcd")).toThrow(/expected 32 bytes/);
    const dir = mkdtempSync(join(tmpdir(), "policy-"));
    try {
      await writePolicy(join(dir, "p.json"), p);
      const back = await readPolicy(join(dir, "p.json"));
      expect(formatPolicy(back)).toBe(formatPolicy(p));
      expect(back.pcr_values?.sha256?.["0"]).toBe("aa");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("expected host_data is the manifest hash (SHA3-256 of the canonical JSON)", () => {
    const key = "MCowBQYDK2VwAyEAp/tCga13FHAQimP0Pafg+KqB2ao09W62kSW40GisouE=";
    const manifest = { id: "1", name: "n", algorithm: { hash: Array.from({ length: 32 }, (_, i) => i), user_key: key }, result_consumers: [{ user_key: key }] };
    const h = hostDataForManifest(manifest);
    expect(h.length).toBe(32);
    expect(toHex(hostDataForManifest(JSON.stringify(manifest)))).toBe(toHex(h));
    expect(toHex(h)).not.toBe(toHex(hostDataForManifest({ ...manifest, id: "2" })));
  });
});

// ---------------------------------------------------------------- mutation tests

describe("mutation: every SNP policy field check fails on its own", () => {
  const root = generateSimRoot({ bootloader: 3, tee: 0, snp: 8, microcode: 115 });
  const D = 1n << 19n, MA = 1n << 18n, SMT = 1n << 16n, CXL = 1n << 21n;
  const guestPolicy = 0x20000n | SMT | D | MA | CXL | (1n << 8n) | 2n; // ABI 1.2
  const fields = {
    measurement: new Uint8Array(48).fill(0x11), hostData: new Uint8Array(32).fill(0x22), familyId: new Uint8Array(16).fill(3),
    imageId: new Uint8Array(16).fill(4), idKeyDigest: new Uint8Array(48).fill(5), authorKeyDigest: new Uint8Array(48).fill(6),
    reportId: new Uint8Array(32).fill(7), guestSvn: 5, vmpl: 2, policy: guestPolicy, firmware: { major: 1, minor: 55, build: 21 },
  };
  const reportData = new Uint8Array(64).fill(0x33);
  const report = simReport(root, reportData, fields);
  const ev = new Uint8Array([...report, ...buildCertTable({ ark: root.arkDer, ask: root.askDer, vcek: root.vcekDer })]);
  const tcb = encodeTcb(root.tcb, undefined);
  const b64 = toBase64;
  const full: AttestationPolicy = trustSimRoot({
    policy: {
      policy: guestPolicy.toString(), measurement: b64(fields.measurement), host_data: b64(fields.hostData), report_data: b64(reportData),
      family_id: b64(fields.familyId), image_id: b64(fields.imageId), report_id: b64(fields.reportId), report_id_ma: b64(new Uint8Array(32).fill(255)),
      chip_id: b64(root.chipId), vmpl: 2, minimum_guest_svn: 5, minimum_tcb: tcb.toString(), minimum_launch_tcb: tcb.toString(), minimum_build: 21,
      minimum_version: "1.55", permit_provisional_firmware: false, require_author_key: true, require_id_block: true,
      trusted_id_key_hashes: [b64(fields.idKeyDigest)], trusted_author_key_hashes: [b64(fields.authorKeyDigest)],
    },
  }, root.arkSha256);

  test("the full policy passes and is labelled simulated", () => {
    const v = verifySnp(ev, { policy: full });
    expect(v.reason).toBeUndefined();
    expect(v.ok).toBe(true);
    expect(v.simulated).toBe(true);
  });

  const other = (n: number, b: number) => b64(new Uint8Array(n).fill(b));
  const higherTcb = encodeTcb({ ...root.tcb, snp: root.tcb.snp + 1 }, undefined).toString();
  const mutations: [string, Record<string, unknown>, string][] = [
    ["measurement", { measurement: other(48, 0x99) }, "snp.measurement_mismatch"],
    ["host_data", { host_data: other(32, 0x99) }, "snp.host_data_mismatch"],
    ["report_data", { report_data: other(64, 0x99) }, "snp.report_data_mismatch"],
    ["family_id", { family_id: other(16, 0x99) }, "snp.family_id_mismatch"],
    ["image_id", { image_id: other(16, 0x99) }, "snp.image_id_mismatch"],
    ["report_id", { report_id: other(32, 0x99) }, "snp.report_id_mismatch"],
    ["report_id_ma", { report_id_ma: other(32, 0x99) }, "snp.report_id_ma_mismatch"],
    ["chip_id", { chip_id: other(64, 0x99) }, "snp.chip_id_mismatch"],
    ["vmpl", { vmpl: 0 }, "snp.vmpl_mismatch"],
    ["minimum_guest_svn", { minimum_guest_svn: 6 }, "snp.guest_svn_too_low"],
    ["debug", { policy: (guestPolicy & ~D).toString() }, "snp.policy_debug"],
    ["smt", { policy: (guestPolicy & ~SMT).toString() }, "snp.policy_smt"],
    ["migrate_ma", { policy: (guestPolicy & ~MA).toString() }, "snp.policy_migrate_ma"],
    ["cxl", { policy: (guestPolicy & ~CXL).toString() }, "snp.policy_cxl"],
    ["single_socket", { policy: (guestPolicy | (1n << 20n)).toString() }, "snp.policy_single_socket"],
    ["abi", { policy: ((guestPolicy & ~0xffffn) | (1n << 8n) | 3n).toString() }, "snp.policy_abi"],
    ["minimum_tcb", { minimum_tcb: higherTcb }, "snp.tcb_too_low"],
    ["minimum_launch_tcb", { minimum_launch_tcb: higherTcb }, "snp.launch_tcb_too_low"],
    ["minimum_build", { minimum_build: 22 }, "snp.build_too_low"],
    ["minimum_version", { minimum_version: "1.56" }, "snp.version_too_low"],
    ["trusted_id_key_hashes", { trusted_id_key_hashes: [other(48, 0x99)] }, "snp.id_key_untrusted"],
    ["trusted_author_key_hashes", { trusted_author_key_hashes: [other(48, 0x99)] }, "snp.author_key_untrusted"],
  ];
  for (const [field, change, code] of mutations)
    test(`${field} → ${code}`, () => {
      const p = { ...full, policy: { ...full.policy, ...change } };
      const v = verifySnp(ev, { policy: p });
      expect(v.ok).toBe(false);
      expect(v.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(code === "snp.tcb_too_low" ? [code, code, code] : [code]);
    });

  test("require_id_block / require_author_key / provisional firmware / product", () => {
    const bare = simReport(root, reportData, { policy: 0x30000n, firmware: { major: 1, minor: 55, build: 21 } });
    const bareEv = new Uint8Array([...bare, ...buildCertTable({ ark: root.arkDer, ask: root.askDer, vcek: root.vcekDer })]);
    const base = trustSimRoot({}, root.arkSha256);
    const failing = (pol: Record<string, unknown>) => verifySnp(bareEv, { policy: { ...base, policy: pol } }).checks.filter((c) => !c.ok).map((c) => c.name);
    expect(failing({})).toEqual([]);
    expect(failing({ require_id_block: true })).toEqual(["snp.id_block_missing"]);
    expect(failing({ require_author_key: true })).toEqual(["snp.author_key_missing"]);
    expect(verifySnp(bareEv, { policy: { root_of_trust: { product: "Milan" } } }).code).toBe("snp.product_mismatch");
    expect(verifySnp(bareEv, { policy: { root_of_trust: { product: "SIM", sim_ark_sha256: "00".repeat(32) } } }).code).toBe("snp.sim_root_not_trusted");
    expect(verifySnp(bareEv).code).toBe("snp.sim_root_not_trusted");
  });
});

describe("mutation: every TDX policy field check fails on its own", () => {
  const quote = tdxFile("trustee_quote_v5.dat");
  const parsed = parseQuote(quote);
  if (!parsed.ok) throw new Error(parsed.detail);
  const c = tdxClaims(parsed.quote);
  const full: AttestationPolicy = {
    tdx: {
      mr_td: c.mr_td, rtmr0: c.rtmr0, rtmr1: c.rtmr1, rtmr2: c.rtmr2, rtmr3: c.rtmr3, mr_config_id: c.mr_config_id, mr_owner: c.mr_owner,
      mr_owner_config: c.mr_owner_config, mr_seam: c.mr_seam, report_data: c.report_data, xfam: c.xfam, td_attributes: c.td_attributes,
      minimum_tee_tcb_svn: c.tee_tcb_svn,
    },
  };
  test("the full policy passes", () => expect(verifyTdx(quote, { policy: full }).ok).toBe(true));
  const flip = (hex: string) => (hex[0] === "f" ? "e" : "f") + hex.slice(1);
  for (const [field, code] of [
    ["mr_td", "tdx.mr_td_mismatch"], ["rtmr0", "tdx.rtmr0_mismatch"], ["rtmr1", "tdx.rtmr1_mismatch"], ["rtmr2", "tdx.rtmr2_mismatch"],
    ["rtmr3", "tdx.rtmr3_mismatch"], ["mr_config_id", "tdx.mr_config_id_mismatch"], ["mr_owner", "tdx.mr_owner_mismatch"],
    ["mr_owner_config", "tdx.mr_owner_config_mismatch"], ["mr_seam", "tdx.mr_seam_mismatch"], ["report_data", "tdx.report_data_mismatch"],
    ["xfam", "tdx.xfam_mismatch"], ["td_attributes", "tdx.td_attributes_mismatch"],
  ] as const)
    test(`${field} → ${code}`, () => {
      const v = verifyTdx(quote, { policy: { tdx: { ...full.tdx, [field]: flip(String(full.tdx![field])) } } });
      expect(v.checks.filter((x) => !x.ok).map((x) => x.name)).toEqual([code]);
    });
  test("minimum_tee_tcb_svn → tdx.tee_tcb_svn_too_low", () => {
    const v = verifyTdx(quote, { policy: { tdx: { ...full.tdx, minimum_tee_tcb_svn: "ff" + c.tee_tcb_svn.slice(2) } } });
    expect(v.checks.filter((x) => !x.ok).map((x) => x.name)).toEqual(["tdx.tee_tcb_svn_too_low"]);
  });
});
