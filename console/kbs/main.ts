// cocos-kbs: `bun console/kbs/main.ts` (or dist/cocos-kbs). Configuration: KBS_HOST (127.0.0.1), KBS_PORT
// (8080), KBS_DB (kbs.sqlite: the console's schema, only its kbs_resources table used), KBS_ADMIN_TOKEN
// (required), KBS_SESSION_TTL_MS (300000).
import { KBS_MAX_BODY, kbsApp } from "./server.ts";
import { openKbsStore } from "./store.ts";

const env = process.env;
const token = env.KBS_ADMIN_TOKEN ?? "";
if (token.length < 16) {
  process.stderr.write("cocos-kbs: KBS_ADMIN_TOKEN must be set (at least 16 characters): it protects the admin API\n");
  process.exit(2);
}
const port = Number(env.KBS_PORT ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`cocos-kbs: KBS_PORT must be 0..65535, got ${JSON.stringify(env.KBS_PORT)}\n`);
  process.exit(2);
}
// A TTL that is not a number would make every session immortal (NaN never compares as expired).
const ttlMs = env.KBS_SESSION_TTL_MS ? Number(env.KBS_SESSION_TTL_MS) : undefined;
if (ttlMs !== undefined && !(Number.isInteger(ttlMs) && ttlMs > 0)) {
  process.stderr.write(`cocos-kbs: KBS_SESSION_TTL_MS must be a positive whole number of milliseconds, got ${JSON.stringify(env.KBS_SESSION_TTL_MS)}\n`);
  process.exit(2);
}
const line = (msg: string, fields: Record<string, unknown> = {}) => process.stdout.write(JSON.stringify({ time: new Date().toISOString(), msg, ...fields }) + "\n");
const store = await openKbsStore(`sqlite:${env.KBS_DB ?? "kbs.sqlite"}`);
const app = kbsApp({ store, adminToken: token, sessionTtlMs: ttlMs, log: line });
const server = Bun.serve({ hostname: env.KBS_HOST ?? "127.0.0.1", port, fetch: app.fetch, maxRequestBodySize: KBS_MAX_BODY });
line("kbs listening", { host: server.hostname, port: server.port });
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    server.stop(true);
    void store.close().finally(() => process.exit(0));
  });
}
