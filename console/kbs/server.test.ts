// Our KBS over real HTTP on 127.0.0.1, driven by a hand-made RCAR client with sim evidence:
// release, policy refusals, replays, expiry, the admin API. (The agent's client: agent/kbs-client.test.ts;
// both together: test/sealed-inputs.test.ts, test/sealed-kbs.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { flattenedDecrypt, type FlattenedJWE } from "jose";
import { kbsEvidence, KBS_SESSION_COOKIE, type KbsRuntimeData } from "../../attestation/kbs-binding.ts";
import type { EvidenceProvider } from "../../attestation/providers/types.ts";
import { trustSimRoot } from "../../attestation/policy.ts";
import { generateSimRoot, SimProvider, type SimRoot } from "../../attestation/providers/sim.ts";
import { KbsRateLimit } from "./rate-limit.ts";
import { KBS_MAX_BODY, kbsApp } from "./server.ts";
import { openKbsStore, type DbKbsStore } from "./store.ts";

const ADMIN = "admin-token-0123456789";
const MEASUREMENT = new Uint8Array(48).fill(0x11);
const HOST_DATA = new Uint8Array(32).fill(0x22);
const SECRET = new Uint8Array(32).fill(0x5a);
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

let root: SimRoot;
let store: DbKbsStore;
let server: ReturnType<typeof Bun.serve>;
let url: string;
const logs: string[] = [];

const provider = (o: { measurement?: Uint8Array; hostData?: Uint8Array; root?: SimRoot } = {}) =>
  new SimProvider({ root: o.root ?? root, measurement: o.measurement ?? MEASUREMENT, hostData: o.hostData ?? HOST_DATA });
/** A whole release: auth, attest, resource; the key (decrypted JWE) or the refusal's status and text. */
async function release(p: EvidenceProvider, path: string): Promise<{ status: number; body: string; key?: Uint8Array }> {
  const s = await attestByHand(p);
  if (s.status !== 200) return { status: s.status, body: s.body };
  const res = await fetch(`${url}/kbs/v0/resource/${path}`, { headers: { cookie: `${KBS_SESSION_COOKIE}=${s.cookie}` } });
  const body = await res.text();
  if (!res.ok) return { status: res.status, body };
  const { plaintext } = await flattenedDecrypt(JSON.parse(body) as FlattenedJWE, s.teeKey, { keyManagementAlgorithms: ["ECDH-ES+A256KW"], contentEncryptionAlgorithms: ["A256GCM"] });
  return { status: 200, body, key: plaintext };
}

async function putResource(path: string, policy: object, token = ADMIN): Promise<Response> {
  return fetch(`${url}/admin/v0/resource/${path}`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ secret: b64(SECRET), policy }) });
}

const policyFor = (measurement: Uint8Array) => trustSimRoot({ policy: { measurement: b64(measurement), host_data: b64(HOST_DATA) } }, root.arkSha256);

/** Runs auth + attest by hand, returning the cookie and token (for replay tests). */
async function attestByHand(p: EvidenceProvider, nonceOverride?: string, swapKey = false): Promise<{ cookie: string; token: string; status: number; body: string; teeKey: KeyObject }> {
  const auth = await fetch(`${url}/kbs/v0/auth`, { method: "POST", body: JSON.stringify({ version: "0.1.1", tee: "snp", "extra-params": {} }) });
  const cookie = auth.headers.get("set-cookie")!.match(/kbs-session-id=([^;]+)/)![1]!;
  const { nonce } = (await auth.json()) as { nonce: string };
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = pair.publicKey.export({ format: "jwk" }) as { x: string; y: string };
  const rd: KbsRuntimeData = { nonce: nonceOverride ?? nonce, "tee-pubkey": { kty: "EC", crv: "P-256", alg: "ECDH-ES+A256KW", x: jwk.x, y: jwk.y } };
  const ev = await kbsEvidence(p, rd);
  const res = await fetch(`${url}/kbs/v0/attest`, {
    method: "POST",
    headers: { cookie: `${KBS_SESSION_COOKIE}=${cookie}` },
    body: JSON.stringify({ "runtime-data": { ...rd, nonce, ...(swapKey ? { "tee-pubkey": { ...rd["tee-pubkey"], x: relayKey().x, y: relayKey().y } } : {}) }, "tee-evidence": { primary_evidence: { format: "cocos-v1", kind: ev.kind, evidence: b64(ev.data) }, additional_evidence: "{}" } }),
  });
  const body = await res.text();
  return { cookie, token: res.ok ? (JSON.parse(body) as { token: string }).token : "", status: res.status, body, teeKey: pair.privateKey };
}

/** A key of the relay's own (the host, a proxy): what it would like the secret wrapped to. */
const relayKey = () => generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" }) as { x: string; y: string };

beforeAll(async () => {
  root = generateSimRoot();
  store = await openKbsStore("sqlite::memory:");
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: kbsApp({ store, adminToken: ADMIN, log: (m) => logs.push(m) }).fetch });
  url = `http://127.0.0.1:${server.port}`;
  expect((await putResource("default/key/iris", policyFor(MEASUREMENT))).status).toBe(200);
  expect((await putResource("default/key/other-image", policyFor(new Uint8Array(48).fill(0x99)))).status).toBe(200);
});

afterAll(async () => {
  server.stop(true);
  await store.close();
});

describe("key release", () => {
  test("an enclave whose evidence matches the policy gets the key (JWE to its fresh key)", async () => {
    const r = await release(provider(), "default/key/iris");
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).protected).toBeString();
    expect(r.key).toEqual(SECRET);
  });

  test("evidence with another measurement than the policy names: 403 saying expected and got", async () => {
    const r = await release(provider(), "default/key/other-image");
    expect(r.status).toBe(403);
    expect(r.body).toContain("measurement");
    expect(r.body).toContain("99".repeat(8));
    expect(r.key).toBeUndefined();
  });

  test("evidence from an unpinned sim root (another 'secure processor'): 403", async () => {
    const r = await release(provider({ root: generateSimRoot() }), "default/key/iris");
    expect(r.status).toBe(403);
    expect(r.body).toContain("sim_root_not_trusted");
  });

  test("a launch bound to another manifest (host_data): 403", async () => {
    const r = await release(provider({ hostData: new Uint8Array(32).fill(0x33) }), "default/key/iris");
    expect(r.status).toBe(403);
    expect(r.body).toContain("host_data");
  });

  test("a TCB below the policy's minimum_tcb: 403", async () => {
    const strict = trustSimRoot({ policy: { measurement: b64(MEASUREMENT), minimum_tcb: "0xff00000000000000" } }, root.arkSha256);
    expect((await putResource("default/key/strict-tcb", strict)).status).toBe(200);
    const r = await release(provider(), "default/key/strict-tcb");
    expect(r.status).toBe(403);
    expect(r.body).toContain("tcb_too_low");
  });

  test("an unknown resource: 404", async () => {
    expect((await release(provider(), "default/key/none")).status).toBe(404);
  });

  test("evidence over another nonce than the session's challenge is refused at attest", async () => {
    const r = await attestByHand(provider(), "a-nonce-of-another-session");
    expect(r.status).toBe(401);
    expect(r.body).toContain("does not bind this session");
  });

  test("a relay that forwards the enclave's evidence with its own tee-pubkey is refused at attest", async () => {
    const r = await attestByHand(provider(), undefined, true);
    expect(r.status).toBe(401);
    expect(r.body).toContain("does not bind this session's runtime data");
  });

  test("evidence produced for another interface (attestation RPC label) is refused at attest", async () => {
    // The provider signs whatever report data it is handed: here the RPC's, not the KBS label's.
    const { rpcReportData } = await import("../../attestation/report-data.ts");
    const relay = { kind: "sim" as const, getEvidence: (_rd: Uint8Array) => provider().getEvidence(rpcReportData(new Uint8Array(64))) };
    const r = await attestByHand(relay);
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
    const st = await openKbsStore("sqlite::memory:");
    const app = kbsApp({ store: st, adminToken: ADMIN, sessionTtlMs: 1000, now: () => now });
    const auth = await app.request("/kbs/v0/auth", { method: "POST", body: JSON.stringify({ version: "0.1.1", tee: "snp", "extra-params": {} }) });
    const cookie = auth.headers.get("set-cookie")!.match(/kbs-session-id=([^;]+)/)![1]!;
    now += 2000;
    const r = await app.request("/kbs/v0/attest", { method: "POST", headers: { cookie: `${KBS_SESSION_COOKIE}=${cookie}` }, body: "{}" });
    expect(r.status).toBe(401);
    expect(await r.text()).toContain("expired");
    await st.close();
  });

  test("a wrong protocol version is 401 with expected and received", async () => {
    const r = await fetch(`${url}/kbs/v0/auth`, { method: "POST", body: JSON.stringify({ version: "9.9", tee: "snp", "extra-params": {} }) });
    expect(r.status).toBe(401);
    expect(await r.text()).toContain('expected 0.1.1, received \\"9.9\\"');
  });
});

describe("bounds (the RCAR endpoints take no credential)", () => {
  const authBody = JSON.stringify({ version: "0.1.1", tee: "snp", "extra-params": {} });

  test("a client over its request budget gets 429 with Retry-After, and opens no session", async () => {
    let now = 1_000_000;
    const app = kbsApp({ store, rateLimit: new KbsRateLimit({ max: 3, windowMs: 60_000 }, () => now) });
    for (let i = 0; i < 3; i++) expect((await app.request("/kbs/v0/auth", { method: "POST", body: authBody })).status).toBe(200);
    const over = await app.request("/kbs/v0/auth", { method: "POST", body: authBody });
    expect(over.status).toBe(429);
    expect(over.headers.get("set-cookie")).toBeNull();
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await over.text()).toContain("too many KBS requests");
    now += 60_000;
    expect((await app.request("/kbs/v0/auth", { method: "POST", body: authBody })).status).toBe(200);
  });

  test("a body over the limit is refused with 413 before it is parsed", async () => {
    const r = await fetch(`${url}/kbs/v0/attest`, { method: "POST", body: "x".repeat(KBS_MAX_BODY + 1) });
    expect(r.status).toBe(413);
    expect(await r.text()).toContain(`at most ${KBS_MAX_BODY} bytes`);
  });

  test("without an admin token there is no admin API (the console's mount)", async () => {
    const app = kbsApp({ store });
    expect((await app.request("/admin/v0/resources")).status).toBe(404);
  });
});

describe("admin API", () => {
  test("needs the admin token", async () => {
    expect((await putResource("default/key/x", policyFor(MEASUREMENT), "wrong-token-0123456789")).status).toBe(401);
    expect(await store.get("default/key/x")).toBeUndefined();
  });

  test("refuses a policy without a measurement (the key would go to any enclave)", async () => {
    const r = await putResource("default/key/y", trustSimRoot({}, root.arkSha256));
    expect(r.status).toBe(400);
    expect(await r.text()).toContain("measurement");
  });
});

test("cocos-kbs refuses a KBS_SESSION_TTL_MS that is not a positive whole number (NaN would never expire a session)", async () => {
  for (const ttl of ["five minutes", "-1", "0"]) {
    const p = Bun.spawn([process.execPath, `${import.meta.dir}/main.ts`], { env: { ...process.env, KBS_ADMIN_TOKEN: "t".repeat(32), KBS_PORT: "0", KBS_DB: ":memory:", KBS_SESSION_TTL_MS: ttl }, stdout: "ignore", stderr: "pipe" });
    expect(await p.exited).toBe(2);
    expect(await new Response(p.stderr).text()).toContain(`KBS_SESSION_TTL_MS must be a positive whole number of milliseconds, got "${ttl}"`);
  }
});
