import { expect, test } from "bun:test";
import { LoginLimiter, newToken, tokenHash } from "./auth.ts";
import { ApiError } from "./errors.ts";

test("the limiter refuses past the budget, forgets after the window, and a success clears the account", () => {
  let now = 0;
  const l = new LoginLimiter({ maxFailures: 2, windowMs: 1000 }, () => now);
  l.fail("a");
  l.fail("a");
  expect(() => l.check("a")).toThrow(ApiError);
  expect(() => l.check("b")).not.toThrow();
  now = 1001;
  expect(() => l.check("a")).not.toThrow();
  l.fail("a");
  l.succeed("a");
  l.fail("a");
  expect(() => l.check("a")).not.toThrow();
});

test("tokens are random and only their hash is kept", () => {
  const a = newToken("ct");
  const b = newToken("ct");
  expect(a.token).not.toBe(b.token);
  expect(a.hash).toBe(tokenHash(a.token));
  expect(a.hash).not.toContain(a.token.slice(3));
});
