// TLS on the managers' port: a manager that trusts the console's certificate connects; a plaintext one does not.
import { afterAll, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startConsole } from "./app.ts";
import { FakeManager, until } from "./testkit.ts";

const dir = mkdtempSync(join(tmpdir(), "console-tls-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("managers reach a TLS console only over TLS", async () => {
  const [cert, key] = [join(dir, "cert.pem"), join(dir, "key.pem")];
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert], { stdio: "ignore" });
  const con = await startConsole({ CONSOLE_DB: `sqlite:${join(dir, "c.db")}`, CONSOLE_HTTP_PORT: "0", CONSOLE_GRPC_PORT: "0", CONSOLE_GRPC_SERVER_CERT: cert, CONSOLE_GRPC_SERVER_KEY: key }, { quiet: true });
  try {
    await con.store.createManager({ id: "m1", token_hash: (await import("./auth.ts")).tokenHash("tok"), description: "", agent_host: "" });
    const plain = new FakeManager(`127.0.0.1:${con.grpcPort}`, "m1", "tok").connect();
    expect((await plain.ended).code).toBe(14); // UNAVAILABLE: no TLS, no stream
    plain.close();
    const tls = new FakeManager(`127.0.0.1:${con.grpcPort}`, "m1", "tok", readFileSync(cert)).connect();
    await until(() => con.hub.isConnected("m1"), "the TLS manager to connect");
    tls.close();
  } finally {
    await con.stop();
  }
});

test("a certificate without its key is a configuration error", async () => {
  await expect(startConsole({ CONSOLE_DB: "sqlite::memory:", CONSOLE_GRPC_SERVER_CERT: "x" }, { quiet: true })).rejects.toThrow("expected both");
});
