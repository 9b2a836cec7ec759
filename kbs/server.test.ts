// Our KBS and the agent's KBS client against each other over real HTTP on 127.0.0.1, with sim
// evidence: release, policy refusals, replays, a broker that is down, slow or lies.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { kbsEvidence, KBS_SESSION_COOKIE, type KbsRuntimeData } from "../attestation/kbs-binding.ts";
import { trustSimRoot } from "../attestation/policy.ts";
import { generateSimRoot, SimProvider, type SimRoot } from "../attestation/providers/sim.ts";
import { KbsClient, KbsError } from "../agent/kbs-client.ts";
import { kbsApp } from "./server.ts";
import { SqliteKbsStore } from "./store.ts";

const ADMIN = "admin-token-0123456789";
const MEASUREMENT = new Uint8Array(48).fill(0x11);
const HOST_DATA = new Uint8Array(32).fill(0x22);
const SECRET = new Uint8Array(32).fill(0x5a);
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

let root: SimRoot;
let store: SqliteKbsStore;
let server: ReturnType<typeof Bun.serve>;
let url: string;
const logs: string[] = [];

const provider = (o: { measurement?: Uint8Array; hostData?: Uint8Array; root?: SimRoot } = {}) =>
  new SimProvider({ root: o.root ?? root, measurement: o.measurement ?? MEASUREMENT, hostData: o.hostData ?? HOST_DATA });
const client = (p = provider(), extra: object = {}) => new KbsClient({ provider: p, timeoutMs: 2000, attempts: 2, backoffMs: 10, ...extra });

async function putResource(path: string, policy: object, token = ADMIN): Promise<Response> {
  return fetch(`${url}/admin/v0/resource/${path}`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ secret: b64(SECRET), policy }) });
}

const policyFor = (measurement: Uint8Array) => trustSimRoot({ policy: { measurement: b64(measurement), host_data: b64(HOST_DATA) } }, root.arkSha256);

/** Runs auth + attest by hand, returning the cookie and token (for replay tests). */
async function attestByHand(p: SimProvider, nonceOverride?: string): Promise<{ cookie: string; token: string; status: number; body: string }> {
  const auth = await fetch(`${url}/kbs/v0/auth`, { method: "POST", body: JSON.stringify({ version: "0.1.1", tee: "snp", "extra-params": {} }) });
  const cookie = auth.headers.get("set-cookie")!.match(/kbs-session-id=([^;]+)/)![1]!;
  const { nonce } = (await auth.json()) as { nonce: string };
  const jwk = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" }) as { x: string; y: string };
  const rd: KbsRuntimeData = { nonce: nonceOverride ?? nonce, "tee-pubkey": { kty: "EC", crv: "P-256", alg: "ECDH-ES+A256KW", x: jwk.x, y: jwk.y } };
  const ev = await kbsEvidence(p, rd);
  const res = await fetch(`${url}/kbs/v0/attest`, {
    method: "POST",
    headers: { cookie: `${KBS_SESSION_COOKIE}=${cookie}` },
    body: JSON.stringify({ "runtime-data": { ...rd, nonce }, "tee-evidence": { primary_evidence: { format: "cocos-v1", kind: ev.kind, evidence: b64(ev.data) }, additional_evidence: "{}" } }),
  });
  const body = await res.text();
  return { cookie, token: res.ok ? (JSON.parse(body) as { token: string }).token : "", status: res.status, body };
}

beforeAll(async () => {
  root = generateSimRoot();
  store = new SqliteKbsStore(":memory:");
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: kbsApp({ store, adminToken: ADMIN, log: (m) => logs.push(m) }).fetch });
  url = `http://127.0.0.1:${server.port}`;
  expect((await putResource("default/key/iris", policyFor(MEASUREMENT))).status).toBe(200);
  expect((await putResource("default/key/other-image", policyFor(new Uint8Array(48).fill(0x99)))).status).toBe(200);
});

afterAll(() => {
  server.stop(true);
  store.close();
});

describe("key release", () => {
  test("an enclave whose evidence matches the policy gets the key (JWE to its fresh key)", async () => {
    expect(await client().getResource(url, "default/key/iris")).toEqual(SECRET);
  });

  test("evidence with another measurement than the policy names: 403, not retried, says why", async () => {
    const retries: unknown[] = [];
    const err = (await client(provider(), { onRetry: (r: unknown) => retries.push(r) }).getResource(url, "default/key/other-image").catch((e) => e)) as KbsError;
    expect(err).toBeInstanceOf(KbsError);
    expect(err.status).toBe(403);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("measurement");
    expect(retries).toHaveLength(0);
  });

  test("evidence from an unpinned sim root (another 'secure processor'): 403", async () => {
    const err = (await client(provider({ root: generateSimRoot() })).getResource(url, "default/key/iris").catch((e) => e)) as KbsError;
    expect(err.status).toBe(403);
    expect(err.message).toContain("sim_root_not_trusted");
  });

  test("a launch bound to another manifest (host_data): 403", async () => {
    const err = (await client(provider({ hostData: new Uint8Array(32).fill(0x33) })).getResource(url, "default/key/iris").catch((e) => e)) as KbsError;
    expect(err.status).toBe(403);
    expect(err.message).toContain("host_data");
  });

  test("a TCB below the policy's minimum_tcb: 403", async () => {
    const strict = trustSimRoot({ policy: { measurement: b64(MEASUREMENT), minimum_tcb: "0xff00000000000000" } }, root.arkSha256);
    expect((await putResource("default/key/strict-tcb", strict)).status).toBe(200);
    const err = (await client().getResource(url, "default/key/strict-tcb").catch((e) => e)) as KbsError;
    expect(err.status).toBe(403);
    expect(err.message).toContain("tcb_too_low");
  });

  test("an unknown resource: 404", async () => {
    const err = (await client().getResource(url, "default/key/none").catch((e) => e)) as KbsError;
    expect(err.status).toBe(404);
  });

  test("evidence over another nonce than the session's challenge is refused at attest", async () => {
    const r = await attestByHand(provider(), "a-nonce-of-another-session");
    expect(r.status).toBe(401);
    expect(r.body).toContain("does not bind this session");
  });

  test("evidence produced for another interface (attestation RPC label) is refused at attest", async () => {
    // The provider signs whatever report data it is handed: here the RPC's, not the KBS label's.
    const { rpcReportData } = await import("../attestation/report-data.ts");
    const relay = { kind: "sim" as const, getEvidence: (_rd: Uint8Array) => provider().getEvidence(rpcReportData(new Uint8Array(64))) };
    const r = await attestByHand(relay as unknown as SimProvider);
    expect(r.status).toBe(401);
    expect(r.body).toContain("cocos-kbs-v1");
  });
});

describe("sessions", () => {
  test("a replayed session cookie releases nothing the second time", async () => {
    const s = await attestByHand(provider());
    expect(s.status).toBe(200);
    const get = () => fetch(`${url}/kbs/v0/resource/default/key/iris`, { headers: { cookie: `${KBS_SESSION_COOKIE}=${s.cookie}` } });
    expect((await get()).status).toBe(200);
    const again = await get();
    expect(again.status).toBe(401);
    expect(await again.text()).toContain("replay refused");
  });

  test("a replayed bearer token releases nothing the second time", async () => {
    const s = await attestByHand(provider());
    const get = () => fetch(`${url}/kbs/v0/resource/default/key/iris`, { headers: { authorization: `Bearer ${s.token}` } });
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(401);
  });

  test("a forged token is refused; no cookie at all is refused", async () => {
    const forged = await fetch(`${url}/kbs/v0/resource/default/key/iris`, { headers: { authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJ4In0.AAAA" } });
    expect(forged.status).toBe(401);
    const none = await fetch(`${url}/kbs/v0/resource/default/key/iris`);
    expect(none.status).toBe(401);
    expect(await none.text()).toContain("received none");
  });

  test("a second attest on the same session is refused", async () => {
    const s = await attestByHand(provider());
    const again = await fetch(`${url}/kbs/v0/attest`, { method: "POST", headers: { cookie: `${KBS_SESSION_COOKIE}=${s.cookie}` }, body: "{}" });
    expect(again.status).toBe(401);
    expect(await again.text()).toContain("expected challenged");
  });

  test("an expired session is refused", async () => {
    let now = Date.now();
    const st = new SqliteKbsStore(":memory:");
    const app = kbsApp({ store: st, adminToken: ADMIN, sessionTtlMs: 1000, now: () => now });
    const auth = await app.request("/kbs/v0/auth", { method: "POST", body: JSON.stringify({ version: "0.1.1", tee: "snp", "extra-params": {} }) });
    const cookie = auth.headers.get("set-cookie")!.match(/kbs-session-id=([^;]+)/)![1]!;
    now += 2000;
    const r = await app.request("/kbs/v0/attest", { method: "POST", headers: { cookie: `${KBS_SESSION_COOKIE}=${cookie}` }, body: "{}" });
    expect(r.status).toBe(401);
    expect(await r.text()).toContain("expired");
    st.close();
  });

  test("a wrong protocol version is 401 with expected and received", async () => {
    const r = await fetch(`${url}/kbs/v0/auth`, { method: "POST", body: JSON.stringify({ version: "9.9", tee: "snp", "extra-params": {} }) });
    expect(r.status).toBe(401);
    expect(await r.text()).toContain('expected 0.1.1, received \\"9.9\\"');
  });
});

describe("admin API", () => {
  test("needs the admin token", async () => {
    expect((await putResource("default/key/x", policyFor(MEASUREMENT), "wrong-token-0123456789")).status).toBe(401);
    expect(store.get("default/key/x")).toBeUndefined();
  });

  test("refuses a policy without a measurement (the key would go to any enclave)", async () => {
    const r = await putResource("default/key/y", trustSimRoot({}, root.arkSha256));
    expect(r.status).toBe(400);
    expect(await r.text()).toContain("measurement");
  });
});

describe("faults on the client side", () => {
  test("a KBS that is down: bounded retries, each reported, then UNAVAILABLE-style error", async () => {
    const dead = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const deadUrl = `http://127.0.0.1:${dead.port}`;
    dead.stop(true);
    const retries: { attempt: number }[] = [];
    const err = (await client(provider(), { attempts: 3, onRetry: (r: { attempt: number }) => retries.push(r) }).getResource(deadUrl, "default/key/iris").catch((e) => e)) as KbsError;
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("unreachable");
    expect(err.message).toContain("gave up after 3 attempts");
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
  });

  test("a KBS that never answers: the request times out, no hang", async () => {
    const slow = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Promise<Response>(() => {}) });
    try {
      const err = (await client(provider(), { timeoutMs: 200, attempts: 2 }).getResource(`http://127.0.0.1:${slow.port}`, "default/key/iris").catch((e) => e)) as KbsError;
      expect(err.message).toContain("no answer within 200 ms");
    } finally {
      slow.stop(true);
    }
  });

  test("a KBS that answers without end: refused after 1 MiB, not buffered", async () => {
    const flood = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => new Response(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(64 * 1024)) }), { headers: { "set-cookie": "kbs-session-id=abc" } }),
    });
    try {
      const err = (await client().getResource(`http://127.0.0.1:${flood.port}`, "default/key/iris").catch((e) => e)) as KbsError;
      expect(err.message).toContain("expected an answer of at most 1048576 bytes");
    } finally {
      flood.stop(true);
    }
  });

  test("a KBS that returns a malformed JWE: refused, not retried", async () => {
    const liar = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: async (req) => {
        const p = new URL(req.url).pathname;
        if (p.endsWith("/auth")) return Response.json({ nonce: "n", "extra-params": {} }, { headers: { "set-cookie": "kbs-session-id=abc" } });
        if (p.endsWith("/attest")) return Response.json({ token: "t" });
        return Response.json({ protected: "e30", encrypted_key: "AAAA", iv: "AAAA", ciphertext: "AAAA", tag: "AAAA" });
      },
    });
    try {
      const err = (await client().getResource(`http://127.0.0.1:${liar.port}`, "default/key/iris").catch((e) => e)) as KbsError;
      expect(err.retryable).toBe(false);
      expect(err.message).toContain("expected a JWE (ECDH-ES+A256KW, A256GCM)");
    } finally {
      liar.stop(true);
    }
  });
});
