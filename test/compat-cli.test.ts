// What a Cocos user types, through the compiled dist/cocos-cli: Go flag spellings, certificates in
// PEM or DER, `--json` output that pipes into a JSON parser, the Milan caveat, and attested TLS
// pointed at an agent that speaks no TLS.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { derToPem } from "../attestation/bytes.ts";
import { teeNonce } from "../attestation/cli.ts";
import { formatPolicy, trustSimRoot } from "../attestation/policy.ts";
import { generateSimRoot, simReport } from "../attestation/providers/sim.ts";
import { rpcReportData } from "../attestation/report-data.ts";
import { buildCertTable } from "../attestation/snp/certtable.ts";
import { snpFile, snpText } from "../attestation/testdata/load.ts";
import { loadPublicKey } from "../protocol/keys.ts";
import { AgentServiceDef, HealthServiceDef } from "../protocol/proto.ts";

const CLI = join(resolve(import.meta.dir, ".."), "dist", "cocos-cli");
const dir = mkdtempSync(join(tmpdir(), "compat-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, data: string | Uint8Array) => (writeFileSync(join(dir, name), data), name);

/** One shell line in `dir` (asynchronous: a fake agent may answer from this process). */
async function sh(line: string, env: Record<string, string> = {}) {
  const p = Bun.spawn(["bash", "-c", line], { cwd: dir, env: { ...process.env, PATH: `${join(CLI, "..")}:${process.env.PATH}`, ...env }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

describe.skipIf(!existsSync(CLI))("compiled cocos-cli, as a Cocos user writes it", () => {
  test('keys -k="rsa" (Go flag syntax) works; a wrong type names the type, not "=type"', async () => {
    const r = await sh('cocos-cli keys -k="rsa"');
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("Successfully generated public/private key pair of type: rsa");
    expect(loadPublicKey(readFileSync(join(dir, "public.pem"), "utf8")).asymmetricKeyType).toBe("rsa");
    const bad = await sh("cocos-cli keys -k=dsa --force");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("'dsa' is invalid");
  });

  describe("attestation validate: PEM or DER, --json alone on stdout, the Milan caveat", () => {
    const milan = write("milan.json", formatPolicy({ root_of_trust: { product: "Milan" } }));
    const refuse = write("no-milan.json", formatPolicy({ root_of_trust: { product: "Milan", disallow_milan: true } }));
    write("report.bin", snpFile("trustee_milan_v2_report.bin"));
    write("vcek.pem", derToPem(snpFile("trustee_milan_vcek.der")));
    write("vcek.der", snpFile("trustee_milan_vcek.der"));
    write("ask_ark.pem", snpText("amd_milan_ask_ark.pem"));
    write("chain.pem", derToPem(snpFile("trustee_milan_vcek.der")) + snpText("amd_milan_ask_ark.pem"));

    test("--vcek FILE.pem verifies (it said `DER: 1840 trailing bytes` before); so do a chain and --ask", async () => {
      for (const certs of ["--vcek vcek.pem", "--vcek chain.pem", "--vcek=vcek.der --ask ask_ark.pem"]) {
        const r = await sh(`cocos-cli attestation validate report.bin --policy ${milan} ${certs}`);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toContain("Checking attestation");
        expect(r.stdout).toContain("Result: VERIFIED");
        expect(r.stderr).toContain("warning: AMD EPYC Milan: SEV-SNP reports from Milan parts can be forged in software (arXiv 2605.12990");
      }
    });

    test("--json: stdout parses as one JSON document; messages and the warning go to stderr", async () => {
      const r = await sh(`cocos-cli attestation validate report.bin --policy ${milan} --vcek vcek.pem --json`);
      expect(r.code).toBe(0);
      const v = JSON.parse(r.stdout);
      expect(v.ok).toBe(true);
      expect(v.claims.product).toBe("Milan");
      expect(v.warnings[0]).toContain("arXiv 2605.12990");
      expect(r.stderr).toContain("Checking attestation");
      expect(r.stderr).toContain("warning: AMD EPYC Milan");
      expect(r.stderr).toContain("Attestation validation and verification is successful!");
    });

    test("root_of_trust.disallow_milan: the genuine Milan report is refused, named in text and JSON", async () => {
      const r = await sh(`cocos-cli attestation validate report.bin --policy ${refuse} --vcek vcek.pem --json`);
      expect(r.code).not.toBe(0);
      const v = JSON.parse(r.stdout);
      expect(v.code).toBe("snp.milan_forgeable");
      expect(r.stderr).toContain("failed with error: snp.milan_forgeable");
    });
  });

  describe("against a fake agent", () => {
    const root = generateSimRoot();
    const tee = "ab".repeat(16);
    const evidence = Buffer.concat([simReport(root, rpcReportData(teeNonce(tee))), buildCertTable({ ark: root.arkDer, ask: root.askDer, vcek: root.vcekDer })]);
    let server: grpc.Server;
    let port = 0;
    let tlsServer: grpc.Server;
    let tlsPort = 0;
    const services = (s: grpc.Server) => {
      s.addService(AgentServiceDef, {
        Attestation: (call: grpc.ServerWritableStream<unknown, { file: Uint8Array }>) => {
          const md = new grpc.Metadata();
          md.set("file-size", String(evidence.length));
          call.sendMetadata(md);
          call.write({ file: evidence });
          call.end();
        },
      });
      s.addService(HealthServiceDef, { Check: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { status: "SERVING" }) });
      return s;
    };
    const bind = (s: grpc.Server, creds: grpc.ServerCredentials) => new Promise<number>((res, rej) => s.bindAsync("127.0.0.1:0", creds, (e, p) => (e ? rej(e) : res(p))));
    beforeAll(async () => {
      server = services(new grpc.Server());
      port = await bind(server, grpc.ServerCredentials.createInsecure());
      // A TLS agent whose self-signed certificate the party holds in DER.
      const ossl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
      ossl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "agent.key", "-out", "agent.pem", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-days", "1"]);
      ossl(["x509", "-in", "agent.pem", "-outform", "der", "-out", "agent.der"]);
      tlsServer = services(new grpc.Server());
      tlsPort = await bind(tlsServer, grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(join(dir, "agent.pem")), private_key: readFileSync(join(dir, "agent.key")) }], false));
    });
    afterAll(() => {
      server.forceShutdown();
      tlsServer?.forceShutdown();
    });

    test("AGENT_GRPC_SERVER_CA_CERTS in DER works like PEM; a file that is neither is named", async () => {
      for (const ca of ["agent.der", "agent.pem"]) {
        // localhost, not 127.0.0.1: Bun's TLS refuses an IP address as the SNI server name.
        const r = await sh(`cocos-cli attestation get snp --tee ${tee} --force`, { AGENT_GRPC_URL: `localhost:${tlsPort}`, AGENT_GRPC_SERVER_CA_CERTS: ca });
        expect(r.code, r.stderr).toBe(0);
      }
      write("junk.ca", "not a certificate");
      const bad = await sh(`cocos-cli attestation get snp --tee ${tee} --force`, { AGENT_GRPC_URL: `localhost:${tlsPort}`, AGENT_GRPC_SERVER_CA_CERTS: "junk.ca" });
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain("AGENT_GRPC_SERVER_CA_CERTS junk.ca: expected PEM or DER certificates");
    });

    test("attestation get --json: stdout is the JSON written to attestation.json; the rest on stderr", async () => {
      const r = await sh(`cocos-cli attestation get snp --tee ${tee} --json`, { AGENT_GRPC_URL: `127.0.0.1:${port}` });
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.nonce_binding).toBe("rpc");
      expect(JSON.parse(readFileSync(join(dir, "attestation.json"), "utf8"))).toEqual(j);
      expect(r.stderr).toContain("Fetching SEV-SNP attestation report");
      expect(r.stderr).toContain("Attestation result retrieved and saved successfully!");
    });

    test("attested TLS to an agent without TLS: no evidence claimed, and the cause named", async () => {
      write("sim-policy.json", formatPolicy(trustSimRoot({}, root.arkSha256)));
      write("algo.wasm", "x");
      const r = await sh("cocos-cli algo algo.wasm private.pem -a=wasm --computation-id 1", {
        AGENT_GRPC_URL: `127.0.0.1:${port}`, AGENT_GRPC_ATTESTED_TLS: "true", AGENT_GRPC_ATTESTATION_POLICY: "sim-policy.json", AGENT_GRPC_TIMEOUT: "5s",
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("nothing was sent");
      expect(r.stderr).toContain("Attestation evidence: none received");
      expect(r.stderr).not.toContain("AMD SEV-SNP");
      expect(r.stderr).toContain("The agent answered without TLS");
    });
  });
});
