// Users' credentials: argon2id password hashes (Bun.password), random session and bearer tokens
// stored only as SHA-256 hashes (a leaked database holds no usable token), and a limiter that slows
// password guessing per account and per client address.
import { createHash, randomBytes } from "node:crypto";
import { ApiError } from "./errors.ts";

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return Bun.password.verify(password, hash).catch(() => false);
}

/** A fresh token (32 random bytes, base64url) and the hash the database keeps. */
export function newToken(prefix: string): { token: string; hash: string } {
  const token = `${prefix}_${randomBytes(32).toString("base64url")}`;
  return { token, hash: tokenHash(token) };
}

export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** A hash for a failed login: a missing user costs as much time as a wrong password. */
export const DUMMY_HASH = await hashPassword("cocos-console-dummy-password");

export interface LoginLimiterOptions {
  /** Failures allowed per key within the window before requests are refused. */
  maxFailures: number;
  windowMs: number;
}

const MAX_TRACKED = 100_000;

/** Counts failed logins per key (account name, client address); refuses with 429 beyond the limit. */
export class LoginLimiter {
  private failures = new Map<string, number[]>();
  constructor(private readonly o: LoginLimiterOptions, private readonly now: () => number = Date.now) {}

  private recent(key: string): number[] {
    const cutoff = this.now() - this.o.windowMs;
    const list = (this.failures.get(key) ?? []).filter((t) => t > cutoff);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Throws 429 when the key is over its budget. */
  check(key: string): void {
    const list = this.recent(key);
    if (list.length >= this.o.maxFailures) {
      const retry = Math.max(1, Math.ceil((list[0]! + this.o.windowMs - this.now()) / 1000));
      throw new ApiError(429, "too_many_attempts", `too many failed logins; try again in ${retry} s`, { "retry-after": String(retry) });
    }
  }

  fail(key: string): void {
    this.failures.set(key, [...this.recent(key), this.now()]);
    // Guesses at endless made-up names must not grow the map without bound: forget the oldest.
    if (this.failures.size > MAX_TRACKED) for (const k of [...this.failures.keys()].slice(0, this.failures.size - MAX_TRACKED)) this.failures.delete(k);
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }
}
