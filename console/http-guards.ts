// Protections every request passes before a route: security headers (CSP), a body size limit,
// cross-site request forgery checks on state-changing requests, and JSON-only bodies.
import type { Context, MiddlewareHandler } from "hono";
import { ApiError, shown } from "./errors.ts";

export const CSRF_HEADER = "x-cocos-csrf";
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  const h = c.res.headers;
  h.set("content-security-policy", CSP);
  h.set("x-content-type-options", "nosniff");
  h.set("x-frame-options", "DENY");
  h.set("referrer-policy", "no-referrer");
  h.set("cross-origin-opener-policy", "same-origin");
  h.set("cross-origin-resource-policy", "same-origin");
  if (c.req.path.startsWith("/api/")) h.set("cache-control", "no-store");
};

/**
 * A browser sends the session cookie with any request to us, also one a hostile page starts. Such a
 * page can neither set a custom header without a CORS preflight (we answer none) nor make its Origin
 * ours; so every state-changing request must carry X-Cocos-CSRF and, when it has an Origin, ours.
 * Requests that authenticate only with a bearer token carry no ambient credential and need no header.
 */
export const csrfGuard: MiddlewareHandler = async (c, next) => {
  if (SAFE.has(c.req.method)) return next();
  const origin = c.req.header("origin");
  if (origin !== undefined && origin !== ownOrigin(c)) {
    throw new ApiError(403, "csrf", `cross-site request refused: Origin ${shown(origin)} is not this console (${ownOrigin(c)})`);
  }
  const bearer = /^Bearer /i.test(c.req.header("authorization") ?? "") && !c.req.header("cookie")?.includes("cocos_session=");
  if (!bearer && c.req.header(CSRF_HEADER) !== "1") {
    throw new ApiError(403, "csrf", `state-changing requests need the header ${CSRF_HEADER}: 1 (or a bearer token); got none`);
  }
  return next();
};

function ownOrigin(c: Context): string {
  const url = new URL(c.req.url);
  const host = c.req.header("host") ?? url.host;
  const proto = c.req.header("x-forwarded-proto") ?? url.protocol.replace(":", "");
  return `${proto}://${host}`;
}

export const MAX_BODY = 1 << 20;

/** The request's JSON object body: 415 when it is not JSON, 400 when it does not parse or is not an object, 413 when too big. */
export async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) throw new ApiError(415, "unsupported_media_type", `expected Content-Type: application/json, got ${shown(type || undefined)}`);
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > MAX_BODY) throw new ApiError(413, "body_too_large", `request body is ${declared} bytes, at most ${MAX_BODY} accepted`);
  const text = await c.req.text();
  if (text.length > MAX_BODY) throw new ApiError(413, "body_too_large", `request body is ${text.length} bytes, at most ${MAX_BODY} accepted`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, "bad_json", `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ApiError(400, "bad_json", `expected a JSON object, got ${Array.isArray(v) ? "an array" : shown(v)}`);
  return v as Record<string, unknown>;
}

/** A string field: required unless a default is given; at most `max` characters, no control characters. */
export function text(body: Record<string, unknown>, field: string, o: { max: number; dflt?: string; multiline?: boolean; min?: number }): string {
  const v = body[field];
  if (v === undefined && o.dflt !== undefined) return o.dflt;
  if (typeof v !== "string") throw new ApiError(400, "invalid_field", `${field}: expected a string, got ${shown(v)}`);
  if (v.length > o.max) throw new ApiError(400, "invalid_field", `${field}: expected at most ${o.max} characters, got ${v.length}`);
  if (v.length < (o.min ?? 0)) throw new ApiError(400, "invalid_field", `${field}: expected at least ${o.min} characters, got ${v.length}`);
  const ctrl = o.multiline ? /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/ : /[\x00-\x1f\x7f]/;
  if (ctrl.test(v)) throw new ApiError(400, "invalid_field", `${field}: control characters are not allowed`);
  return v;
}

export function oneOf<T extends string>(body: Record<string, unknown>, field: string, allowed: readonly T[], dflt?: T): T {
  const v = body[field];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== "string" || !allowed.includes(v as T)) throw new ApiError(400, "invalid_field", `${field}: expected one of ${allowed.join(", ")}, got ${shown(v)}`);
  return v as T;
}

export function bool(body: Record<string, unknown>, field: string, dflt: boolean): boolean {
  const v = body[field];
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") throw new ApiError(400, "invalid_field", `${field}: expected true or false, got ${shown(v)}`);
  return v;
}
