import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSimRoot, simReport } from "../attestation/providers/sim.ts";
import { trustSimRoot, formatPolicy } from "../attestation/policy.ts";
import { buildCertTable } from "../attestation/snp/certtable.ts";
import { teeNonce } from "../attestation/cli.ts";
import { rpcReportData } from "../attestation/report-data.ts";
import { AgentServiceDef, HealthServiceDef } from "../protocol/proto.ts";
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

// ---------------------------------------------------------------- attestation get against a fake agent

type AttestationHandler = (call: grpc.ServerWritableStream<{ teeNonce: Buffer }, { file: Uint8Array }>) => void | Promise<void>;

describe("attestation get: streamed to disk, capped, written exclusively, nonce binding checked", () => {
  const root = generateSimRoot();
  const tee = "ab".repeat(16);
  const simEvidence = (rd: Uint8Array) => Buffer.concat([simReport(root, rd), buildCertTable({ ark: root.arkDer, ask: root.askDer, vcek: root.vcekDer })]);
  let handler: AttestationHandler;
  let server: grpc.Server;
  let port = 0;
  let sent = 0;
  const env = () => ({ AGENT_GRPC_URL: `127.0.0.1:${port}`, AGENT_GRPC_TIMEOUT: "5s" });
  const cliEnv = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const r = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l), cwd: getDir, env: env(), tty: false });
    return { code: r.code, out: out.join("\n"), err: err.join("\n") };
  };
  let getDir: string;
  /** Streams `total` bytes of `head` followed by zeros, honouring back-pressure; counts what it sent. */
  const stream = (head: Uint8Array, total: number, fileSize?: number): AttestationHandler => async (call) => {
    const md = new grpc.Metadata();
    if (fileSize !== undefined) md.set("file-size", String(fileSize));
    call.sendMetadata(md);
    const zeros = new Uint8Array(1 << 20);
    for (let off = 0; off < total && !call.cancelled; ) {
      const chunk = off === 0 ? head : zeros.subarray(0, Math.min(zeros.length, total - off));
      off += chunk.length;
      sent += chunk.length;
      if (!call.write({ file: chunk })) await new Promise((r) => call.once("drain", r));
    }
    call.end();
  };
  const partials = () => readdirSync(getDir).filter((n) => n.includes(".part-") || n.includes(".evidence-"));

  beforeAll(async () => {
    getDir = mkdtempSync(join(tmpdir(), "cocos-att-get-"));
    server = new grpc.Server();
    server.addService(AgentServiceDef, { Attestation: (call: Parameters<AttestationHandler>[0]) => void Promise.resolve(handler(call)).catch(() => {}) });
    server.addService(HealthServiceDef, { Check: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { status: "SERVING" }) });
    port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  });
  afterAll(() => {
    server.forceShutdown();
    rmSync(getDir, { recursive: true, force: true });
  });

  test("RPC-labelled evidence: saved, binding reported; validate --nonce checks it; another nonce fails", async () => {
    const ev = simEvidence(rpcReportData(teeNonce(tee)));
    handler = stream(ev, ev.length, ev.length);
    const r = await cliEnv(["attestation", "get", "snp", "--tee", tee]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("binds your nonce (Attestation RPC label cocos-attestation-rpc-v1)");
    expect(readFileSync(join(getDir, "attestation.bin"))).toEqual(ev);
    writeFileSync(join(getDir, "p.json"), formatPolicy(trustSimRoot({}, root.arkSha256)));
    expect((await cliEnv(["attestation", "validate", "attestation.bin", "--policy", "p.json", "--nonce", tee])).code).toBe(0);
    const other = await cliEnv(["attestation", "validate", "attestation.bin", "--policy", "p.json", "--nonce", "cd".repeat(16)]);
    expect(other.code).not.toBe(0);
    expect(other.out + other.err).toContain("report_data_mismatch");
    // A second get does not overwrite without --force, and then does with it.
    const again = await cliEnv(["attestation", "get", "snp", "--tee", tee]);
    expect(again.code).not.toBe(0);
    expect(again.err).toContain("already exists; not replacing it (pass --force");
    expect((await cliEnv(["attestation", "get", "snp", "--tee", tee, "--force"])).code).toBe(0);
    const js = await cliEnv(["attestation", "get", "snp", "--tee", tee, "--json"]);
    expect(js.code, js.err).toBe(0);
    expect(JSON.parse(readFileSync(join(getDir, "attestation.json"), "utf8")).nonce_binding).toBe("rpc");
    expect(partials()).toEqual([]);
  });

  test("a raw (unlabelled) nonce is named: get warns, validate --nonce says which kind of agent answered", async () => {
    const ev = simEvidence(teeNonce(tee));
    handler = stream(ev, ev.length, ev.length);
    const r = await cliEnv(["attestation", "get", "snp", "--tee", tee, "--force"]);
    expect(r.code).toBe(0);
    expect(r.err).toContain("the report data is your nonce itself");
    const v = await cliEnv(["attestation", "validate", "attestation.bin", "--policy", "p.json", "--nonce", tee]);
    expect(v.code).not.toBe(0);
    expect(v.err).toContain("agent without domain separation");
    expect((await cliEnv(["attestation", "validate", "attestation.bin", "--policy", "p.json", "--report_data", Buffer.from(teeNonce(tee)).toString("hex")])).code).toBe(0);
  });

  test("a symlink planted at attestation.bin is never followed (not even with --force)", async () => {
    const victim = join(getDir, "victim.txt");
    writeFileSync(victim, "precious");
    rmSync(join(getDir, "attestation.bin"), { force: true });
    symlinkSync(victim, join(getDir, "attestation.bin"));
    const ev = simEvidence(rpcReportData(teeNonce(tee)));
    handler = stream(ev, ev.length, ev.length);
    expect((await cliEnv(["attestation", "get", "snp", "--tee", tee])).err).toContain("already exists");
    expect((await cliEnv(["attestation", "get", "snp", "--tee", tee, "--force"])).code).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("precious");
    expect(lstatSync(join(getDir, "attestation.bin")).isSymbolicLink()).toBe(false);
  });

  test("an announced file-size over the cap is refused before the download; a lying one is caught", async () => {
    rmSync(join(getDir, "attestation.bin"), { force: true });
    handler = stream(new Uint8Array(1024), 300 << 20, 300 << 20);
    sent = 0;
    const r = await cliEnv(["attestation", "get", "snp", "--tee", tee]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`announced ${300 << 20} bytes of evidence, more than the limit of ${16 << 20}; raise the limit with --max-size`);
    handler = stream(new Uint8Array(1024), 4096, 100);
    expect((await cliEnv(["attestation", "get", "snp", "--tee", tee])).err).toContain("ended after 4096 bytes, but the agent announced 100");
    expect(readdirSync(getDir).includes("attestation.bin")).toBe(false);
    expect(partials()).toEqual([]);
  });

  test("300 MiB without a file-size header: the download stops at the cap and leaves no partial file", async () => {
    handler = stream(new Uint8Array(1024), 300 << 20);
    sent = 0;
    const r = await cliEnv(["attestation", "get", "snp", "--tee", tee, "--max-size", "4MiB"]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`the agent sent more than ${4 << 20} bytes of evidence; stopped there`);
    for (let end = Date.now() + 5000; partials().length && Date.now() < end; ) await Bun.sleep(20);
    expect(partials()).toEqual([]);
    expect(readdirSync(getDir).includes("attestation.bin")).toBe(false);
    await Bun.sleep(200);
    expect(sent).toBeLessThan(64 << 20); // the agent was stopped, not drained
  });

  /** Runs the CLI from source as its own process; its peak RSS from /proc (VmHWM). */
  async function peakRss(argv: string[]): Promise<{ code: number; output: string; peak: number }> {
    const p = Bun.spawn([process.execPath, join(import.meta.dir, "main.ts"), ...argv], { cwd: getDir, env: { ...process.env, ...env() }, stdout: "pipe", stderr: "pipe" });
    let peak = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"));
        if (m) peak = Math.max(peak, Number(m[1]) * 1024);
      } catch {}
    }, 50);
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearInterval(poll);
    return { code, output: out + err, peak };
  }

  test("300 MiB accepted with --max-size: streamed to disk, the CLI's peak RSS grows by a few tens of MiB at most", async () => {
    const ev = simEvidence(rpcReportData(teeNonce(tee)));
    handler = stream(ev, ev.length, ev.length);
    const small = await peakRss(["attestation", "get", "snp", "--tee", tee, "--force"]);
    expect(small.code, small.output).toBe(0);
    handler = stream(ev, 300 << 20, 300 << 20);
    const big = await peakRss(["attestation", "get", "snp", "--tee", tee, "--max-size", "400MiB", "--force"]);
    expect(big.code, big.output).toBe(0);
    expect(statSync(join(getDir, "attestation.bin")).size).toBe(300 << 20);
    expect(small.peak).toBeGreaterThan(0);
    // Measured here: +61..63 MiB (grpc-js buffers, garbage not yet collected); buffering the evidence adds 300 MiB or
    // more, so the bound keeps a margin for GC timing on a loaded machine.
    expect(big.peak - small.peak).toBeLessThan(150 << 20);
    console.log(`attestation get: peak RSS ${(small.peak / 2 ** 20).toFixed(0)} MiB for ${ev.length} bytes, ${(big.peak / 2 ** 20).toFixed(0)} MiB for 300 MiB`);
    rmSync(join(getDir, "attestation.bin"));
  });
});
