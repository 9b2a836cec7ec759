// The bearer token of the manager HTTP API: MANAGER_HTTP_TOKEN when set, else a random one made at
// first start and kept in the state dir (mode 0600, readable only by the manager's user), so local
// tools of that user can read it and other local users or web pages cannot.
import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const HTTP_TOKEN_FILE = "http-token";
/** Shortest token accepted from the environment or the file (bytes of text). */
const MIN_TOKEN_LENGTH = 16;

/** The token and where it came from; creates `<stateDir>/http-token` when neither exists. */
export function loadOrCreateHttpToken(stateDir: string, override = ""): { token: string; source: string } {
  if (override) {
    if (override.length < MIN_TOKEN_LENGTH) throw new Error(`MANAGER_HTTP_TOKEN: expected at least ${MIN_TOKEN_LENGTH} characters, got ${override.length}`);
    return { token: override, source: "MANAGER_HTTP_TOKEN" };
  }
  const path = join(stateDir, HTTP_TOKEN_FILE);
  try {
    // wx: never overwrite a token another manager on this state dir has just written.
    writeFileSync(path, randomBytes(32).toString("base64url") + "\n", { mode: 0o600, flag: "wx" });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  // A token file others can read is no secret: tighten it rather than serve with it.
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  const token = readFileSync(path, "utf8").trim();
  if (token.length < MIN_TOKEN_LENGTH) throw new Error(`${path}: expected a token of at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}; delete the file to get a new one`);
  return { token, source: path };
}
