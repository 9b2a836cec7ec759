// The agent's KBS client against stand-in brokers on 127.0.0.1: one that follows the protocol
// (JWE to the attested key), and ones that are down, slow, refuse, flood or lie.
import { expect, test } from "bun:test";
import { FlattenedEncrypt, importJWK } from "jose";
import { kbsReportData, type KbsAttestation } from "../attestation/kbs-binding.ts";
import { evidenceReportData } from "../attestation/cli.ts";
import { generateSimRoot, SimProvider } from "../attestation/providers/sim.ts";
import { KbsClient, KbsError } from "./kbs-client.ts";

const provider = new SimProvider({ root: generateSimRoot() });
const client = (extra: object = {}) => new KbsClient({ provider, timeoutMs: 2000, attempts: 2, backoffMs: 10, ...extra });
const SECRET = new Uint8Array(32).fill(9);

/** A broker that answers each RCAR step with `answer(step, body)` (default: the protocol's happy path). */
function broker(answer?: (step: string, body: unknown) => Response | Promise<Response> | undefined) {
  let attestation: KbsAttestation | undefined;
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req) => {
      const step = new URL(req.url).pathname.split("/")[3]!;
      const body = req.method === "POST" ? await req.json() : undefined;
      const custom = await answer?.(step, body);
      if (custom) return custom;
      if (step === "auth") return Response.json({ nonce: "n-1", "extra-params": {} }, { headers: { "set-cookie": "kbs-session-id=s-1; Path=/kbs" } });
      if (step === "attest") {
        if (req.headers.get("cookie") !== "kbs-session-id=s-1") return new Response("no cookie", { status: 401 });
        attestation = body as KbsAttestation;
        return Response.json({ token: "t" });
      }
      const key = await importJWK(attestation!["runtime-data"]["tee-pubkey"], "ECDH-ES+A256KW");
      return Response.json(await new FlattenedEncrypt(SECRET).setProtectedHeader({ alg: "ECDH-ES+A256KW", enc: "A256GCM" }).encrypt(key));
    },
  });
}

test("the protocol's happy path: the attest body binds the challenge and the fresh key through cocos-kbs-v1; the JWE decrypts", async () => {
  let seen: KbsAttestation | undefined;
  const b = broker((step, body) => {
    if (step === "attest") seen = body as KbsAttestation;
    return undefined;
  });
  try {
    expect(await client().getResource(`http://127.0.0.1:${b.port}/`, "default/key/a")).toEqual(SECRET);
    expect(seen!["runtime-data"].nonce).toBe("n-1");
    expect(seen!["runtime-data"]["tee-pubkey"]).toMatchObject({ kty: "EC", crv: "P-256" });
    const ev = new Uint8Array(Buffer.from(seen!["tee-evidence"].primary_evidence.evidence, "base64"));
    expect(evidenceReportData(ev)).toEqual(kbsReportData(seen!["runtime-data"]));
  } finally {
    b.stop(true);
  }
});

test("a refusal (403) is final at once: not retried, status and the broker's reason kept", async () => {
  const retries: unknown[] = [];
  const b = broker((step) => (step === "resource" ? new Response("policy says no: measurement", { status: 403 }) : undefined));
  try {
    const err = (await client({ onRetry: (r: unknown) => retries.push(r) }).getResource(`http://127.0.0.1:${b.port}`, "default/key/a").catch((e) => e)) as KbsError;
    expect(err).toBeInstanceOf(KbsError);
    expect(err.status).toBe(403);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("KBS resource refused: HTTP 403: policy says no: measurement");
    expect(retries).toHaveLength(0);
  } finally {
    b.stop(true);
  }
});

test("a 5xx is retried a bounded number of times", async () => {
  let calls = 0;
  const b = broker((step) => (step === "auth" && ++calls ? new Response("busy", { status: 503 }) : undefined));
  try {
    const err = (await client({ attempts: 3 }).getResource(`http://127.0.0.1:${b.port}`, "default/key/a").catch((e) => e)) as KbsError;
    expect(err.retryable).toBe(true);
    expect(calls).toBe(3);
  } finally {
    b.stop(true);
  }
});

test("a KBS that is down: bounded retries, each reported, then a retryable error", async () => {
  const dead = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const deadUrl = `http://127.0.0.1:${dead.port}`;
  dead.stop(true);
  const retries: { attempt: number }[] = [];
  const err = (await client({ attempts: 3, onRetry: (r: { attempt: number }) => retries.push(r) }).getResource(deadUrl, "default/key/iris").catch((e) => e)) as KbsError;
  expect(err.retryable).toBe(true);
  expect(err.message).toContain("unreachable");
  expect(err.message).toContain("gave up after 3 attempts");
  expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
});

test("a KBS that never answers: the request times out, no hang", async () => {
  const slow = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Promise<Response>(() => {}) });
  try {
    const err = (await client({ timeoutMs: 200, attempts: 2 }).getResource(`http://127.0.0.1:${slow.port}`, "default/key/iris").catch((e) => e)) as KbsError;
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

test("a malformed JWE, or one to another key, is refused and not retried", async () => {
  const other = await importJWK({ kty: "EC", crv: "P-256", ...(await crypto.subtle.exportKey("jwk", (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])).publicKey)) }, "ECDH-ES+A256KW");
  for (const jwe of [
    { protected: "e30", encrypted_key: "AAAA", iv: "AAAA", ciphertext: "AAAA", tag: "AAAA" },
    await new FlattenedEncrypt(SECRET).setProtectedHeader({ alg: "ECDH-ES+A256KW", enc: "A256GCM" }).encrypt(other),
    await new FlattenedEncrypt(SECRET).setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(new Uint8Array(32)),
  ]) {
    const b = broker((step) => (step === "resource" ? Response.json(jwe) : undefined));
    try {
      const err = (await client().getResource(`http://127.0.0.1:${b.port}`, "default/key/iris").catch((e) => e)) as KbsError;
      expect(err.retryable).toBe(false);
      expect(err.message).toContain("expected a JWE (ECDH-ES+A256KW, A256GCM)");
    } finally {
      b.stop(true);
    }
  }
});

test("no session cookie from auth, or a bad resource path: refused before anything is sent on", async () => {
  const b = broker((step) => (step === "auth" ? Response.json({ nonce: "n", "extra-params": {} }) : undefined));
  try {
    expect(((await client().getResource(`http://127.0.0.1:${b.port}`, "default/key/a").catch((e) => e)) as Error).message).toContain("expected a kbs-session-id cookie, received none");
    expect(((await client().getResource(`http://127.0.0.1:${b.port}`, "default/../x").catch((e) => e)) as Error).message).toContain("repository/type/tag");
  } finally {
    b.stop(true);
  }
});
