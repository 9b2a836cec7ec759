// The compiled cocos-cli against agents that lie: a fake AgentService (grpc-js, proto/agent.proto)
// that streams too much, misstates file-size, sends terminal escapes or a non-zip, captures
// signatures to replay them at the real agent (dist/cocos-agent); and a working directory with
// planted files and symlinks. Nothing the agent does may hurt the party's machine or terminal.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair, loadPublicKey, publicKeyDer } from "../protocol/keys.ts";
import { AgentServiceDef, HealthServiceDef, agentProto } from "../protocol/proto.ts";

const ROOT = join(import.meta.dir, "..");
const CLI = join(ROOT, "dist", "cocos-cli");
const AGENT = join(ROOT, "dist", "cocos-agent");
const MiB = 1024 * 1024;

let dir: string;
beforeAll(() => {
  for (const b of [CLI, AGENT]) if (!existsSync(b)) throw new Error(`${b} is missing: run \`bun run build\``);
  dir = mkdtempSync(join(tmpdir(), "cli-hostile-"));
  mkdirSync(join(dir, "party"));
  writeFileSync(join(dir, "party", "private.pem"), consumer.privatePem, { mode: 0o600 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const consumer = generateKeyPair("ed25519");

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  maxRss: number;
}

async function cli(args: string[], env: Record<string, string>, cwd: string): Promise<CliRun> {
  const p = Bun.spawn([CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", AGENT_GRPC_TIMEOUT: "10s", ...env }, stdout: "pipe", stderr: "pipe" });
  // The CLI's own peak RSS, read from /proc while it runs (rusage of a child can report the peak of
  // any child this test process has waited for, e.g. an agent of an earlier test file).
  let maxRss = 0;
  const sample = () => {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSafe(`/proc/${p.pid}/status`));
    if (m) maxRss = Math.max(maxRss, Number(m[1]) * 1024);
  };
  const timer = setInterval(sample, 20);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearInterval(timer);
  return { code, stdout, stderr, maxRss };
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

type ResultCall = grpc.ServerWritableStream<object, { file: Uint8Array }>;

/** A fake agent: Result does whatever the test says; every call's metadata is kept. */
async function fakeAgent(result: (call: ResultCall) => Promise<void> | void, creds = grpc.ServerCredentials.createInsecure()) {
  const seen: grpc.Metadata[] = [];
  const server = new grpc.Server();
  const refuse = (call: { metadata: grpc.Metadata }, cb: grpc.sendUnaryData<object>) => {
    seen.push(call.metadata);
    cb({ code: grpc.status.UNIMPLEMENTED, details: "fake" });
  };
  server.addService(AgentServiceDef, {
    Algo: refuse,
    Data: refuse,
    Result(call: ResultCall) {
      seen.push(call.metadata);
      void Promise.resolve(result(call)).catch(() => {});
    },
    Attestation: (call: grpc.ServerWritableStream<object, object>) => call.end(),
  });
  server.addService(HealthServiceDef, {
    Check: (_c: unknown, cb: grpc.sendUnaryData<object>) => cb(null, { status: "SERVING" }),
    Watch: (c: grpc.ServerWritableStream<object, object>) => c.end(),
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", creds, (e, p) => (e ? rej(e) : res(p))));
  return { port, seen, close: () => server.forceShutdown() };
}

/** Streams `total` bytes (1 MiB messages, back-pressure honoured) until done or the client goes away. */
async function stream(call: ResultCall, total: number, opts: { fileSize?: number; first?: Uint8Array } = {}): Promise<void> {
  const md = new grpc.Metadata();
  if (opts.fileSize !== undefined) md.set("file-size", String(opts.fileSize));
  call.sendMetadata(md);
  let gone = false;
  const cancelled = new Promise<void>((r) => call.once("cancelled", () => ((gone = true), r())));
  const chunk = new Uint8Array(MiB);
  for (let sent = 0; sent < total && !gone; ) {
    const n = Math.min(MiB, total - sent);
    const msg = sent === 0 && opts.first ? Buffer.concat([opts.first, chunk.subarray(0, n - opts.first.length)]) : chunk.subarray(0, n);
    sent += n;
    if (!call.write({ file: msg })) await Promise.race([new Promise<void>((r) => call.once("drain", r)), cancelled]);
  }
  if (!gone) call.end();
}

const ZIP = new Uint8Array([0x50, 0x4b, 3, 4]);
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

describe("cocos-cli result against a hostile agent", () => {
  const run = async (port: number, extra: string[] = [], out = mkdtempSync(join(dir, "out-"))) => ({
    out,
    r: await cli(["result", join(dir, "party", "private.pem"), ...extra], { AGENT_GRPC_URL: `127.0.0.1:${port}`, COCOS_COMPUTATION_ID: "c-1" }, out),
  });

  test("300 MiB without file-size: stops at --max-size, keeps nothing, memory stays bounded", async () => {
    const agent = await fakeAgent((call) => stream(call, 300 * MiB, { first: ZIP }));
    try {
      const { out, r } = await run(agent.port, ["--max-size", "250MiB"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`the agent sent more than the ${250 * MiB}-byte limit; stopped, nothing saved (raise it with --max-size)`);
      expect(readdirSync(out)).toEqual([]);
      // Streamed to disk: well below the 250 MiB it received before stopping (measured ~120 MiB, of
      // which ~55 MiB is the idle binary).
      if (process.env.TEST_DEBUG) console.log(`cocos-cli max RSS ${(r.maxRss / MiB).toFixed(1)} MiB after receiving 250 MiB`);
      expect(r.maxRss).toBeLessThan(200 * MiB);
    } finally {
      agent.close();
    }
  });

  test("more bytes than file-size announces: stopped, nothing kept", async () => {
    const agent = await fakeAgent((call) => stream(call, 300 * MiB, { fileSize: MiB, first: ZIP }));
    try {
      const { out, r } = await run(agent.port);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`the agent sent more than the ${MiB} bytes its file-size header announced; stopped, nothing saved`);
      expect(readdirSync(out)).toEqual([]);
    } finally {
      agent.close();
    }
  });

  test("file-size above the limit: refused before anything is kept; fewer bytes than announced: incomplete", async () => {
    const big = await fakeAgent((call) => stream(call, 300 * MiB, { fileSize: 2 * 1024 * MiB, first: ZIP }));
    const short = await fakeAgent((call) => stream(call, MiB, { fileSize: 10 * MiB, first: ZIP }));
    const garbage = await fakeAgent((call) => {
      const md = new grpc.Metadata();
      md.set("file-size", "12 bytes");
      call.sendMetadata(md);
      call.end();
    });
    try {
      const a = await run(big.port);
      expect(a.r.code).toBe(1);
      expect(a.r.stderr).toContain(`the agent announces a ${2 * 1024 * MiB}-byte result, more than the ${1024 * MiB}-byte limit; nothing saved`);
      expect(readdirSync(a.out)).toEqual([]);
      const b = await run(short.port);
      expect(b.r.code).toBe(1);
      expect(b.r.stderr).toContain(`the agent announced ${10 * MiB} bytes (file-size) but sent ${MiB}; the result is incomplete, nothing saved`);
      expect(readdirSync(b.out)).toEqual([]);
      const c = await run(garbage.port);
      expect(c.r.code).toBe(1);
      expect(c.r.stderr).toContain(`the agent's file-size header is not a byte count: "12 bytes"`);
    } finally {
      big.close();
      short.close();
      garbage.close();
    }
  });

  test("terminal escapes in the agent's error text reach the terminal escaped, on one line", async () => {
    const evil = "\x1b]0;owned\x07\x1b[2J\x1b[H\x1b[31mEnter your passphrase:\r\nPassphrase: \x9b6n\u202e";
    const agent = await fakeAgent((call) => void call.emit("error", { code: grpc.status.UNAUTHENTICATED, details: evil }));
    try {
      const { r } = await run(agent.port);
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(CONTROL);
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain("\\x1b]0;owned\\x07\\x1b[2J\\x1b[H\\x1b[31mEnter your passphrase:\\x0d\\x0aPassphrase: \\x9b6n\\u{202e}");
      // -v prints the raw gRPC error too: escaped as well.
      const verbose = await cli(["-v", "result", join(dir, "party", "private.pem")], { AGENT_GRPC_URL: `127.0.0.1:${agent.port}`, COCOS_COMPUTATION_ID: "c-1" }, mkdtempSync(join(dir, "out-")));
      expect(verbose.code).toBe(1);
      expect(verbose.stderr.length).toBeGreaterThan(r.stderr.length);
      expect(verbose.stderr).not.toMatch(CONTROL);
    } finally {
      agent.close();
    }
  });

  test("a result that is not a zip is refused, nothing saved", async () => {
    const page = Buffer.from("<html><script>alert(1)</script></html>");
    const agent = await fakeAgent((call) => stream(call, page.length, { fileSize: page.length, first: page }));
    try {
      const { out, r } = await run(agent.port);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`the agent's result is not a zip archive (${page.length} bytes starting 3c 68 74 6d`);
      expect(readdirSync(out)).toEqual([]);
    } finally {
      agent.close();
    }
  });

  test("an existing results.zip is kept unless --force; planted symlinks are never written through", async () => {
    const body = Buffer.concat([ZIP, Buffer.from("result bytes")]);
    const agent = await fakeAgent((call) => stream(call, body.length, { fileSize: body.length, first: body }));
    try {
      const out = mkdtempSync(join(dir, "out-"));
      writeFileSync(join(out, "results.zip"), "earlier result");
      const kept = await run(agent.port, [], out);
      expect(kept.r.code).toBe(1);
      expect(kept.r.stderr).toContain(`the result file ${join(out, "results.zip")} already exists; not replacing it (pass --force to replace it)`);
      expect(readFileSync(join(out, "results.zip"), "utf8")).toBe("earlier result");
      expect(agent.seen).toHaveLength(0); // refused before the agent was asked
      expect((await run(agent.port, ["--force"], out)).r.code).toBe(0);
      expect(readFileSync(join(out, "results.zip"))).toEqual(body);

      // results.zip.part and results.zip planted as symlinks to a file of the party's.
      const victim = join(dir, "victim.txt");
      writeFileSync(victim, "precious");
      const planted = mkdtempSync(join(dir, "out-"));
      symlinkSync(victim, join(planted, "results.zip.part"));
      const viaPart = await run(agent.port, [], planted);
      expect(viaPart.r.code).toBe(0);
      expect(readFileSync(victim, "utf8")).toBe("precious");
      expect(readlinkSync(join(planted, "results.zip.part"))).toBe(victim);
      expect(lstatSync(join(planted, "results.zip")).isFile()).toBe(true);
      expect(statSync(join(planted, "results.zip")).mode & 0o777).toBe(0o600);
      rmSync(join(planted, "results.zip"));
      symlinkSync(victim, join(planted, "results.zip"));
      const viaLink = await run(agent.port, [], planted);
      expect(viaLink.r.code).toBe(1);
      expect(viaLink.r.stderr).toContain("already exists");
      expect((await run(agent.port, ["--force"], planted)).r.code).toBe(0);
      expect(readFileSync(victim, "utf8")).toBe("precious");
      expect(lstatSync(join(planted, "results.zip")).isFile()).toBe(true);
      expect(readFileSync(join(planted, "results.zip"))).toEqual(body);
      expect(readdirSync(planted).sort()).toEqual(["results.zip", "results.zip.part"]);
    } finally {
      agent.close();
    }
  });
});

describe("cocos-cli keys never replaces a key by surprise", () => {
  const keys = (cwd: string, extra: string[] = []) => cli(["keys", "-k", "ed25519", ...extra], {}, cwd);

  test("an existing private.pem is refused; --force replaces an old 0644 key with a 0600 one", async () => {
    const d = mkdtempSync(join(dir, "keys-"));
    writeFileSync(join(d, "private.pem"), "old key", { mode: 0o644 });
    const r = await keys(d);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the private key ${join(d, "private.pem")} already exists; not replacing it (pass --force to replace it)`);
    expect(readFileSync(join(d, "private.pem"), "utf8")).toBe("old key");
    expect(existsSync(join(d, "public.pem"))).toBe(false);
    const f = await keys(d, ["--force"]);
    expect(f.code).toBe(0);
    expect(readFileSync(join(d, "private.pem"), "utf8")).toContain("-----BEGIN PRIVATE KEY-----");
    expect(statSync(join(d, "private.pem")).mode & 0o777).toBe(0o600);
    expect(statSync(join(d, "public.pem")).mode & 0o777).toBe(0o644);
    expect(readdirSync(d).sort()).toEqual(["private.pem", "public.pem"]); // no temporary file left
  });

  test("private.pem as a symlink is never written through, not even with --force", async () => {
    const d = mkdtempSync(join(dir, "keys-"));
    const victim = join(dir, "authorized_keys");
    writeFileSync(victim, "ssh-ed25519 AAAA precious\n");
    symlinkSync(victim, join(d, "private.pem"));
    const r = await keys(d);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("already exists");
    expect((await keys(d, ["--force"])).code).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("ssh-ed25519 AAAA precious\n");
    expect(lstatSync(join(d, "private.pem")).isSymbolicLink()).toBe(false);
    expect(statSync(join(d, "private.pem")).mode & 0o777).toBe(0o600);
  });
});

describe("signatures are bound to the agent they were made for", () => {
  // A CA the party trusts, and two agents with certificates from it: the real one and a fake one
  // (its own key) that the party was lured to.
  let pki: string;
  let realAgent: ReturnType<typeof Bun.spawn>;
  let realPort = 0;
  const computationId = "bound-1";

  function issue(name: string): { cert: string; key: string } {
    const key = join(pki, `${name}.key`);
    const csr = join(pki, `${name}.csr`);
    const cert = join(pki, `${name}.pem`);
    const ossl = (args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
    ossl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost"]);
    writeFileSync(join(pki, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    ossl(["x509", "-req", "-in", csr, "-CA", join(pki, "ca.pem"), "-CAkey", join(pki, "ca.key"), "-CAcreateserial", "-out", cert, "-days", "1", "-extfile", join(pki, "san.ext")]);
    return { cert, key };
  }

  beforeAll(async () => {
    pki = mkdtempSync(join(dir, "pki-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(pki, "ca.key"), "-out", join(pki, "ca.pem"), "-subj", "/CN=party CA", "-days", "1"], { stdio: "pipe" });
    const real = issue("real");
    const userKey = Buffer.from(publicKeyDer(loadPublicKey(consumer.publicPem))).toString("base64");
    const manifest = {
      id: computationId,
      name: "bound",
      algorithm: { hash: Array(32).fill(1), user_key: userKey },
      result_consumers: [{ user_key: userKey }],
      agent_config: { host: "127.0.0.1", port: "0", cert_file: real.cert, key_file: real.key },
      signatures: "v2-only",
    };
    writeFileSync(join(pki, "manifest.json"), JSON.stringify(manifest));
    realAgent = Bun.spawn([AGENT, "--manifest", join(pki, "manifest.json")], {
      cwd: pki,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", AGENT_ATTESTATION: "sim", AGENT_SIM_STATE_DIR: join(pki, "sim"), AGENT_LOG_LEVEL: "info", AGENT_WORK_DIR: join(pki, "work") },
      stdout: "pipe",
      stderr: "inherit",
    });
    const reader = (realAgent.stdout as ReadableStream<Uint8Array>).getReader();
    let buf = "";
    for (let i = 0; i < 1000 && !realPort; i++) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the agent exited before it was ready:\n${buf}`);
      buf += new TextDecoder().decode(value);
      realPort = Number(/"msg":"agent ready".*?"grpc_port":(\d+)/.exec(buf)?.[1] ?? 0);
    }
    reader.releaseLock();
    void (realAgent.stdout as ReadableStream).pipeTo(new WritableStream()).catch(() => {});
  });
  afterAll(async () => {
    realAgent?.kill();
    await realAgent?.exited;
  });

  // localhost, not 127.0.0.1: Bun's TLS refuses an IP address as the SNI server name.
  const tlsEnv = (port: number) => ({ AGENT_GRPC_URL: `localhost:${port}`, AGENT_GRPC_SERVER_CA_CERTS: join(pki, "ca.pem"), COCOS_COMPUTATION_ID: computationId });

  /** The captured metadata sent again, as is, to the real agent; resolves with its refusal. */
  function replay(md: grpc.Metadata, drop: string[] = []): Promise<grpc.ServiceError> {
    const copy = md.clone();
    for (const k of ["te", "content-type", "user-agent", "grpc-accept-encoding", "grpc-encoding", ...drop]) copy.remove(k);
    const client = new agentProto.AgentService(`localhost:${realPort}`, grpc.credentials.createSsl(readFileSync(join(pki, "ca.pem")))) as unknown as grpc.Client & {
      Result(req: object, md: grpc.Metadata): grpc.ClientReadableStream<object>;
    };
    return new Promise((resolve, reject) => {
      const call = client.Result({}, copy);
      call.on("data", () => {});
      call.on("error", (e: grpc.ServiceError) => (client.close(), resolve(e)));
      call.on("end", () => (client.close(), reject(new Error("the real agent answered the replayed call"))));
    });
  }

  test("control: the party's own call reaches the real agent and is authenticated (then: not ready)", async () => {
    const r = await cli(["result", join(dir, "party", "private.pem")], tlsEnv(realPort), mkdtempSync(join(dir, "out-")));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the computation is not ready for this step");
  });

  test("a v2 signature captured by a fake agent is refused by the real one, naming the audience", async () => {
    const fake = issue("fake");
    const agent = await fakeAgent(
      (call) => void call.emit("error", { code: grpc.status.UNAVAILABLE, details: "try again later" }),
      grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(fake.cert), private_key: readFileSync(fake.key) }], false),
    );
    try {
      const r = await cli(["result", join(dir, "party", "private.pem")], tlsEnv(agent.port), mkdtempSync(join(dir, "out-")));
      expect(r.code).toBe(1);
      const captured = agent.seen[0]!;
      expect(captured.get("signature-version")).toEqual(["2"]);
      // Within the skew window, with a nonce the real agent never saw.
      const withHint = await replay(captured);
      expect(withHint.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(withHint.details).toContain("signature audience mismatch");
      const stripped = await replay(captured, ["signature-audience"]);
      expect(stripped.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(stripped.details).toMatch(/signature verification failed for role consumer on \/agent\.AgentService\/Result \(audience [0-9a-f]{64}\)/);
    } finally {
      agent.close();
    }
  });

  test("a captured v1 signature is refused by a v2-only agent", async () => {
    const agent = await fakeAgent((call) => void call.emit("error", { code: grpc.status.UNAVAILABLE, details: "try again later" }));
    try {
      const r = await cli(["result", join(dir, "party", "private.pem"), "--signature", "v1"], { AGENT_GRPC_URL: `127.0.0.1:${agent.port}` }, mkdtempSync(join(dir, "out-")));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("v1 signatures (Cocos compatibility) are replayable");
      const refused = await replay(agent.seen[0]!);
      expect(refused.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(refused.details).toContain("the manifest requires v2 (replay-resistant) signatures; got a v1 role signature");
    } finally {
      agent.close();
    }
  });
});
