// Register, log in (cookie or bearer token), log out; the middleware that resolves who is asking.
import type { Hono, Context } from "hono";
import { DUMMY_HASH, hashPassword, newToken, tokenHash, verifyPassword } from "../auth.ts";
import { ApiError, shown } from "../errors.ts";
import { jsonBody, text } from "../http-guards.ts";
import { userView } from "../views.ts";
import { clientIp, me, wrapDb, type ApiOptions, type Env } from "./kit.ts";

const COOKIE = "cocos_session";

export function authRoutes(app: Hono<Env>, o: ApiOptions): void {
  const { store } = o;
  app.use("/api/*", async (c, next) => {
    c.set("user", null);
    c.set("session", null);
    const bearer = /^Bearer (.+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    const cookie = /(?:^|;\s*)cocos_session=([^;]+)/.exec(c.req.header("cookie") ?? "")?.[1];
    const token = bearer ?? cookie;
    if (token) {
      const found = await store.sessionUser(tokenHash(token));
      if (!found || found.session.expires_at <= Date.now()) {
        if (found) await store.deleteSession(found.session.token_hash);
        // An expired or forged credential is an error, not an anonymous request.
        throw new ApiError(401, "unauthenticated", found ? "the session has expired; log in again" : "the session or token is not valid; log in again");
      }
      c.set("user", found.user);
      c.set("session", found.session.token_hash);
    }
    return next();
  });


  const setCookie = (c: Context, token: string) =>
    c.header("set-cookie", `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(o.sessionTtlMs / 1000)}${o.secureCookie ? "; Secure" : ""}`);

  const credentials = async (c: Context) => {
    const b = await jsonBody(c);
    const username = text(b, "username", { max: 64, min: 1 });
    const password = text(b, "password", { max: 1024, min: 1 });
    return { b, username, password };
  };

  const login = async (c: Context, kind: "cookie" | "bearer") => {
    const { b, username, password } = await credentials(c);
    const ip = clientIp(c);
    o.limits.account.check(username);
    o.limits.ip.check(ip);
    const u = await store.userByName(username);
    const ok = await verifyPassword(password, u?.password_hash ?? DUMMY_HASH);
    if (!u || !ok) {
      o.limits.account.fail(username);
      o.limits.ip.fail(ip);
      throw new ApiError(401, "bad_credentials", "wrong username or password");
    }
    o.limits.account.succeed(username);
    const { token, hash } = newToken(kind === "cookie" ? "cs" : "ct");
    const now = Date.now();
    await store.createSession({ token_hash: hash, user_id: u.id, kind, name: kind === "bearer" ? text(b, "name", { max: 100, dflt: "" }) : "", created_at: now, expires_at: now + o.sessionTtlMs });
    return { u, token, expires_at: now + o.sessionTtlMs };
  };

  app.post("/api/auth/register", async (c) => {
    const { username, password } = await credentials(c);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(username)) throw new ApiError(400, "invalid_field", `username: expected 1-64 letters, digits, '.', '_' or '-', got ${shown(username)}`);
    if (password.length < 8) throw new ApiError(400, "weak_password", `password: expected at least 8 characters, got ${password.length}`);
    const u = await wrapDb(store.createUser(username, await hashPassword(password)), `username ${shown(username)} is taken`);
    const { token, hash } = newToken("cs");
    const now = Date.now();
    await store.createSession({ token_hash: hash, user_id: u.id, kind: "cookie", name: "", created_at: now, expires_at: now + o.sessionTtlMs });
    setCookie(c, token);
    return c.json({ user: userView(u) }, 201);
  });
  app.post("/api/auth/login", async (c) => {
    const { u, token } = await login(c, "cookie");
    setCookie(c, token);
    return c.json({ user: userView(u) });
  });
  app.post("/api/auth/token", async (c) => {
    const { u, token, expires_at } = await login(c, "bearer");
    return c.json({ user: userView(u), token, expires_at }, 201);
  });
  app.post("/api/auth/logout", async (c) => {
    const s = c.get("session");
    if (s) await store.deleteSession(s);
    c.header("set-cookie", `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
    return c.body(null, 204);
  });
  app.get("/api/me", (c) => c.json({ user: userView(me(c)) }));
}
