import { afterAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { AttestedIdentity, connectAttested, EVIDENCE_OID, makeAttestedCertificate, nonceToSni, sniToNonce, startAtlsFront, verifyAttestedCertificate } from "./atls.ts";
import { SimProvider } from "./providers/sim.ts";
import { trustSimRoot } from "./policy.ts";
import { parseCertificate } from "./x509.ts";
import { toBase64 } from "./bytes.ts";
import { atlsReportData, rpcReportData, unlabelledAtlsBinding } from "./report-data.ts";

const tmp = mkdtempSync(join(tmpdir(), "atls-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const hostData = new Uint8Array(32).fill(0x77);
const sim = new SimProvider({ stateDir: join(tmp, "sim"), hostData });
const policy = trustSimRoot({ policy: { host_data: toBase64(hostData) } }, sim.root.arkSha256);

describe("attested certificate", () => {
  const id = new AttestedIdentity(sim);
  const nonce = new Uint8Array(64).fill(9);

  test("round trip: evidence in a non-critical extension, bound to the SPKI and nonce", async () => {
    const c = await id.certificateFor(nonce);
    const cert = parseCertificate(c.certDer);
    expect(cert.extensions.get(EVIDENCE_OID.sim)?.critical).toBe(false);
    const v = verifyAttestedCertificate(c.certDer, nonce, policy);
    expect(v.reason).toBeUndefined();
    expect(v.ok && v.simulated).toBe(true);
    expect(v.checks.find((x) => x.name === "atls.spki_binding")?.ok).toBe(true);
    expect((await id.certificateFor(nonce)).certDer).toEqual(c.certDer); // cached per nonce
  });

  test("another nonce (replay) is refused", async () => {
    const c = await id.certificateFor(nonce);
    expect(verifyAttestedCertificate(c.certDer, new Uint8Array(64).fill(8), policy).code).toBe("atls.spki_binding");
  });

  test("evidence bound to another key is refused (mismatched SPKI)", async () => {
    const evidence = await sim.getEvidence(atlsReportData(id.spki, nonce));
    const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "pem", type: "pkcs1" }) as string;
    const forged = makeAttestedCertificate(otherKey, evidence);
    const v = verifyAttestedCertificate(forged.certDer, nonce, policy);
    expect(v.ok).toBe(false);
    expect(v.code).toBe("atls.spki_binding");
  });

  // The relay attack: a MITM with its own key obtains evidence for SHA3-512(its SPKI ‖ nonce) from
  // an oracle that signs caller-chosen data. Both shapes of that evidence are named and refused.
  const relayKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "pem", type: "pkcs1" }) as string;
  const relaySpki = new Uint8Array(createPublicKey(relayKey).export({ format: "der", type: "spki" }));

  test("evidence from the Attestation RPC (labelled for the RPC) is refused as produced for the RPC", async () => {
    for (const tee of [unlabelledAtlsBinding(relaySpki, nonce), atlsReportData(relaySpki, nonce)]) {
      const forged = makeAttestedCertificate(relayKey, await sim.getEvidence(rpcReportData(tee)));
      const v = verifyAttestedCertificate(forged.certDer, nonce, policy);
      expect(v.ok).toBe(false);
      expect(v.code).toBe("atls.wrong_context");
      expect(v.reason).toContain("evidence was produced for the Attestation RPC, not for attested TLS");
    }
  });

  test("evidence over the old unlabelled binding (an oracle signing raw data) is refused and named", async () => {
    const forged = makeAttestedCertificate(relayKey, await sim.getEvidence(unlabelledAtlsBinding(relaySpki, nonce)));
    const v = verifyAttestedCertificate(forged.certDer, nonce, policy);
    expect(v.code).toBe("atls.wrong_context");
    expect(v.reason).toContain("unlabelled");
  });

  test("a certificate without evidence, and garbage", () => {
    const plain = makeAttestedCertificate(id.keyPem, { kind: "sim", data: new Uint8Array(0), source: "x", simulated: true });
    expect(verifyAttestedCertificate(plain.certDer, nonce, policy).ok).toBe(false);
    expect(verifyAttestedCertificate(new Uint8Array([1, 2, 3]), nonce, policy).code).toBe("atls.cert_malformed");
  });

  test("SNI nonce encoding", () => {
    const n = new Uint8Array(64).map((_, i) => i * 3);
    const sni = nonceToSni(n);
    expect(sni.split(".").every((l) => l.length <= 63)).toBe(true);
    expect(sniToNonce(sni)).toEqual(n);
    expect(sniToNonce("localhost")).toBeUndefined();
    expect(sniToNonce("zz.nonce")).toBeUndefined();
  });
});

describe("attested TLS front + grpc-js", () => {
  const svc = {
    echo: { path: "/t.T/Echo", requestStream: false, responseStream: false, requestSerialize: (x: Buffer) => x, requestDeserialize: (x: Buffer) => x, responseSerialize: (x: Buffer) => x, responseDeserialize: (x: Buffer) => x },
  };

  test("the client verifies, then talks gRPC over the attested key; a mismatching policy is refused", async () => {
    const sock = join(tmp, "grpc.sock");
    const server = new grpc.Server();
    server.addService(svc as any, { echo: (call: any, cb: any) => cb(null, Buffer.concat([Buffer.from("echo:"), call.request])) });
    await new Promise<void>((res, rej) => server.bindAsync("unix://" + sock, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
    const front = await startAtlsFront(new AttestedIdentity(sim), sock);
    let client: any;
    try {
      const conn = await connectAttested("127.0.0.1", front.port, policy);
      expect(conn.verdict.ok).toBe(true);
      expect(conn.verdict.simulated).toBe(true);
      const creds = grpc.credentials.createSsl(Buffer.from(conn.rootCertPem!), null, null, { checkServerIdentity: conn.checkServerIdentity as any });
      const Client = grpc.makeGenericClientConstructor(svc as any, "T");
      client = new Client(`127.0.0.1:${front.port}`, creds, conn.channelOptions);
      const reply = await new Promise<string>((res, rej) => client.echo(Buffer.from("hi"), (e: any, v: Buffer) => (e ? rej(e) : res(v.toString()))));
      expect(reply).toBe("echo:hi");

      const wrong = await connectAttested("127.0.0.1", front.port, trustSimRoot({ policy: { host_data: toBase64(new Uint8Array(32)) } }, sim.root.arkSha256));
      expect(wrong.verdict.ok).toBe(false);
      expect(wrong.verdict.code).toBe("snp.host_data_mismatch");
      expect(wrong.rootCertPem).toBeUndefined();
    } finally {
      client?.close();
      await front.close();
      server.forceShutdown();
    }
  });
});
