// Our key broker: Trustee's KBS protocol (auth → attest → resource) on hono, resources and their
// policies in a KbsStore, evidence verified by attestation/. A resource is released only to a
// session whose evidence (a) binds the session's nonce and the TEE key through the cocos-kbs-v1
// report data and (b) satisfies that resource's policy; the reply is a JWE wrapped to the TEE key.
// The console mounts the RCAR part (no admin API: its owners administer resources through
// routes/kbs.ts); the standalone cocos-kbs adds the bearer-token admin API.
import { timingSafeEqual } from "node:crypto";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { FlattenedEncrypt, SignJWT, importJWK, jwtVerify } from "jose";
import { evidenceReportData, verifyEvidence } from "../../attestation/cli.ts";
import {
  KBS_JWE_ALG, KBS_JWE_ENC, KBS_PROTOCOL_VERSION, KBS_SESSION_COOKIE, kbsReportData,
  type KbsAttestation, type KbsRequest,
} from "../../attestation/kbs-binding.ts";
import { parsePolicy, type AttestationPolicy } from "../../attestation/policy.ts";
import { equalBytes, toHex } from "../../protocol/hash.ts";
import { parseResourcePath } from "../../protocol/manifest.ts";
import { clientIp } from "../routes/kit.ts";
import { KbsRateLimit } from "./rate-limit.ts";
import { SessionError, Sessions } from "./sessions.ts";
import type { KbsStore, StoredResource } from "./store.ts";

export interface KbsServerOptions {
  store: KbsStore;
  /** Bearer token of the admin API (resource registration); without one there is no admin API. */
  adminToken?: string;
  /**
   * The policy a release is checked against (default: the stored one). The console binds a
   * computation's resource to that computation's current manifest here; a string refuses (403).
   */
  releasePolicy?: (r: StoredResource) => Promise<AttestationPolicy | string>;
  /** Requests per client address on /kbs/v0/* (default KBS_RATE_DEFAULTS). */
  rateLimit?: KbsRateLimit;
  sessionTtlMs?: number;
  /** Pins the verification time (tests with fixed evidence). */
  now?: () => number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

const TEES = ["snp", "tdx", "az-snp-vtpm", "az-tdx-vtpm", "sgx", "cca", "csv", "se", "tpm", "sample"];
/** TEEs whose evidence this KBS can verify. */
const VERIFIABLE_TEES = ["snp", "tdx"];

/** RCAR bodies are small (evidence is a few KiB): nothing larger is read. */
export const KBS_MAX_BODY = 1 << 20;

const error = (c: Context, status: 400 | 401 | 403 | 404 | 413 | 429 | 503, message: string) => c.json({ type: `https://github.com/confidential-containers/kbs/errors/${status}`, detail: message }, status);

export function kbsApp(o: KbsServerOptions): Hono {
  const ttlMs = o.sessionTtlMs ?? 5 * 60_000;
  const sessions = new Sessions(ttlMs, o.now);
  const tokenKey = crypto.getRandomValues(new Uint8Array(32));
  const log = o.log ?? (() => {});
  const app = new Hono();
  const limit = o.rateLimit ?? new KbsRateLimit();

  app.use("/kbs/v0/*", async (c, next) => {
    const wait = limit.take(clientIp(c));
    if (wait > 0) {
      c.header("retry-after", String(wait));
      return error(c, 429, `too many KBS requests from this address; retry in ${wait} s`);
    }
    return next();
  });
  app.use("/kbs/v0/*", bodyLimit({ maxSize: KBS_MAX_BODY, onError: (c) => error(c, 413, `request body: expected at most ${KBS_MAX_BODY} bytes, received more`) }));

  app.onError((err, c) => {
    if (err instanceof SessionError) return error(c, err.status, err.message);
    log("kbs internal error", { error: err.message });
    return c.json({ detail: "internal error" }, 500);
  });

  app.post("/kbs/v0/auth", async (c) => {
    const req = (await c.req.json().catch(() => null)) as Partial<KbsRequest> | null;
    if (!req || typeof req !== "object") return error(c, 400, "expected a JSON Request {version, tee, extra-params}");
    if (req.version !== KBS_PROTOCOL_VERSION) return error(c, 401, `KBS protocol version: expected ${KBS_PROTOCOL_VERSION}, received ${JSON.stringify(req.version)}`);
    if (!TEES.includes(String(req.tee))) return error(c, 400, `tee: expected one of ${TEES.join(", ")}, received ${JSON.stringify(req.tee)}`);
    if (!VERIFIABLE_TEES.includes(String(req.tee))) return error(c, 401, `tee ${req.tee}: this KBS verifies only ${VERIFIABLE_TEES.join(", ")} evidence`);
    const s = sessions.create(String(req.tee));
    c.header("set-cookie", `${KBS_SESSION_COOKIE}=${s.id}; Path=/kbs; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(ttlMs / 1000)}`);
    return c.json({ nonce: s.nonce, "extra-params": {} });
  });

  app.post("/kbs/v0/attest", async (c) => {
    const s = sessions.take(cookieOf(c), "challenged");
    const body = (await c.req.json().catch(() => null)) as Partial<KbsAttestation> | null;
    const rd = body?.["runtime-data"];
    const prim = body?.["tee-evidence"]?.primary_evidence;
    if (!rd || typeof rd.nonce !== "string" || !rd["tee-pubkey"] || !prim || typeof prim.evidence !== "string") {
      return error(c, 400, "expected an Attestation {runtime-data: {nonce, tee-pubkey}, tee-evidence: {primary_evidence: {format: cocos-v1, kind, evidence}}}");
    }
    if (rd.nonce !== s.nonce) return error(c, 401, `runtime-data nonce: expected this session's challenge ${s.nonce}, received ${JSON.stringify(rd.nonce).slice(0, 80)}`);
    const k = rd["tee-pubkey"];
    if (k.kty !== "EC" || k.crv !== "P-256" || typeof k.x !== "string" || typeof k.y !== "string") {
      return error(c, 400, `tee-pubkey: expected an EC P-256 JWK (for ${KBS_JWE_ALG}), received kty ${JSON.stringify(k.kty)} crv ${JSON.stringify(k.crv)}`);
    }
    const evidence = new Uint8Array(Buffer.from(prim.evidence, "base64"));
    // The binding is checked here (no policy yet: which resource is asked for comes later); the
    // signature chain and the policy are checked against each resource's policy at release.
    const expected = kbsReportData(rd);
    const actual = evidenceReportData(evidence);
    if (!actual || !equalBytes(actual, expected)) {
      return error(c, 401, `evidence does not bind this session's runtime data: expected report data ${toHex(expected)} (cocos-kbs-v1 over SHA-384 of the runtime data), received ${actual ? toHex(actual) : "evidence without report data"}`);
    }
    s.runtime = rd;
    s.evidence = evidence;
    s.state = "attested";
    const token = await new SignJWT({ "tee-pubkey": k, sid: s.id })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("cocos-kbs")
      .setIssuedAt()
      .setExpirationTime(Math.floor(s.expiresAt / 1000))
      .sign(tokenKey);
    log("attested", { tee: s.tee });
    return c.json({ token });
  });

  app.get("/kbs/v0/resource/:repo/:type/:tag", async (c) => {
    const s = sessions.take(await sessionOf(c, tokenKey), "attested");
    const path = resourcePathOf(c);
    const r = await o.store.get(path);
    if (!r) return error(c, 404, `no resource ${path}`);
    const policy = o.releasePolicy ? await o.releasePolicy(r) : r.policy;
    if (typeof policy === "string") {
      s.state = "spent";
      log("release refused", { path, reason: policy });
      return error(c, 403, `resource ${path}: ${policy}`);
    }
    const v = await verifyEvidence(s.evidence!, { policy, reportData: toHex(kbsReportData(s.runtime!)), allowNetwork: false, at: o.now ? new Date(o.now()) : undefined });
    s.state = "spent"; // one release per attestation, granted or refused
    if (!v.ok) {
      log("release refused", { path, reason: v.reason });
      return error(c, 403, `resource ${path}: evidence does not satisfy its policy: ${v.reason}`);
    }
    const key = await importJWK({ ...s.runtime!["tee-pubkey"], alg: KBS_JWE_ALG }, KBS_JWE_ALG);
    const jwe = await new FlattenedEncrypt(r.secret).setProtectedHeader({ alg: KBS_JWE_ALG, enc: KBS_JWE_ENC }).encrypt(key);
    log("released", { path, simulated: v.simulated });
    return c.json(jwe);
  });

  if (o.adminToken) app.route("/admin/v0", adminApp(o.store, o.adminToken, log));
  return app;
}

/**
 * A resource's policy as an admin sends it, parsed; or why it cannot be one. A policy without a
 * measurement would release the key to any enclave.
 */
export function parseResourcePolicy(v: unknown): AttestationPolicy | string {
  let policy: AttestationPolicy;
  try {
    policy = parsePolicy(JSON.stringify(v ?? null));
  } catch (err) {
    return (err as Error).message;
  }
  if (!policy.policy?.measurement && !policy.tdx?.mr_td) return "policy: expected a measurement (policy.measurement or tdx.mr_td) — a resource released to any enclave is not sealed";
  return policy;
}

/** The secret of a registration body: standard base64, or why not. */
export function parseSecret(v: unknown): Uint8Array | string {
  if (typeof v !== "string" || v.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(v)) return `secret: expected standard base64, got ${typeof v === "string" ? `${v.length} characters that are not` : typeof v}`;
  return new Uint8Array(Buffer.from(v, "base64"));
}

/** The standalone broker's registration API (Trustee's takes an admin-signed JWT; this one a bearer token). */
function adminApp(store: KbsStore, adminToken: string, log: (msg: string, fields?: Record<string, unknown>) => void): Hono {
  const admin = new Hono();
  admin.use("*", async (c, next) => {
    const got = Buffer.from((c.req.header("authorization") ?? "").replace(/^Bearer\s+/i, ""));
    const want = Buffer.from(adminToken);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return c.json({ detail: "admin API: expected Authorization: Bearer <admin token>" }, 401);
    await next();
  });
  admin.put("/resource/:repo/:type/:tag", async (c) => {
    const path = resourcePathOf(c);
    const bad = parseResourcePath(path);
    if (typeof bad === "string") return c.json({ detail: bad }, 400);
    const body = (await c.req.json().catch(() => null)) as { secret?: unknown; policy?: unknown } | null;
    const secret = parseSecret(body?.secret);
    if (typeof secret === "string") return c.json({ detail: `expected {secret: base64, policy: {...attestation policy}}: ${secret}` }, 400);
    const policy = parseResourcePolicy(body?.policy);
    if (typeof policy === "string") return c.json({ detail: policy }, 400);
    await store.put(path, secret, policy);
    log("resource stored", { path });
    return c.json({ path });
  });
  admin.delete("/resource/:repo/:type/:tag", async (c) => {
    const path = resourcePathOf(c);
    return (await store.delete(path)) ? c.json({ path }) : c.json({ detail: `no resource ${path}` }, 404);
  });
  admin.get("/resources", async (c) => c.json((await store.list()).map((r) => ({ path: r.path, updatedAt: new Date(r.updatedAt).toISOString() }))));
  return admin;
}

/** The "repository/type/tag" of a /resource/:repo/:type/:tag route (not yet validated). */
export function resourcePathOf(c: { req: { param(n: string): string | undefined } }): string {
  return `${c.req.param("repo")}/${c.req.param("type")}/${c.req.param("tag")}`;
}

function cookieOf(c: Context): string | undefined {
  return c.req.header("cookie")?.match(new RegExp(`(?:^|;\\s*)${KBS_SESSION_COOKIE}=([^;\\s]+)`))?.[1];
}

/** The session of a resource request: the cookie, or the `sid` of a valid attestation token. */
async function sessionOf(c: Context, tokenKey: Uint8Array): Promise<string | undefined> {
  const bearer = c.req.header("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!bearer) return cookieOf(c);
  try {
    const { payload } = await jwtVerify(bearer, tokenKey, { issuer: "cocos-kbs", algorithms: ["HS256"] });
    return typeof payload.sid === "string" ? payload.sid : undefined;
  } catch (err) {
    throw new SessionError(401, `attestation token refused: ${(err as Error).message}`);
  }
}
