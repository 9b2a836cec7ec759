// The console as a library: config → database (migrated) → manager hub (gRPC) → REST API + UI (HTTP).
// console/main.ts runs it as a program; tests and the bench start it in-process.
import { readFileSync } from "node:fs";
import { LoginLimiter } from "./auth.ts";
import { consoleApi } from "./api.ts";
import { loadConsoleConfig, type ConsoleConfig } from "./config.ts";
import { openDb } from "./db.ts";
import { ManagerHub, type ConsoleLog } from "./managers.ts";
import { Store } from "./store.ts";
import { EventWriter, TimelineBus } from "./timeline.ts";

export interface RunningConsole {
  config: ConsoleConfig;
  store: Store;
  hub: ManagerHub;
  writer: EventWriter;
  url: string;
  grpcPort: number;
  http: ReturnType<typeof Bun.serve>;
  stop(): Promise<void>;
}

export function jsonLog(service: string, quiet = false): ConsoleLog & { error(msg: string, f?: Record<string, unknown>): void } {
  const line = (level: string) => (msg: string, f: Record<string, unknown> = {}) => {
    if (quiet && level !== "ERROR") return;
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, service, msg, ...f }) + "\n");
  };
  return { info: line("INFO"), warn: line("WARN"), error: line("ERROR") };
}

export async function startConsole(env: Record<string, string | undefined> = process.env, o: { quiet?: boolean } = {}): Promise<RunningConsole> {
  const config = loadConsoleConfig(env);
  const log = jsonLog("console", o.quiet);
  const store = await Store.open(await openDb(config.db));
  await store.markAllManagersDisconnected();
  await store.deleteExpiredSessions();
  const bus = new TimelineBus();
  const writer = new EventWriter(store, bus, (e) => log.error("storing events failed", { error: e.message }));
  const hub = new ManagerHub(store, writer, bus, log, { stopAfterCompleteMs: config.stopAfterCompleteMs });
  const tls = config.grpcServerCert ? { cert: readFileSync(config.grpcServerCert), key: readFileSync(config.grpcServerKey) } : undefined;
  const grpcPort = await hub.listen(config.grpcHost, config.grpcPort, tls);
  let listening = "";
  const app = consoleApi({
    publicUrl: () => config.publicUrl || listening,
    store, hub, bus, log, sessionTtlMs: config.sessionTtlMs, secureCookie: config.secureCookie, uiDir: config.uiDir, maxUploadBytes: config.maxUploadBytes,
    limits: {
      account: new LoginLimiter({ maxFailures: config.loginMaxFailures, windowMs: config.loginWindowMs }),
      ip: new LoginLimiter({ maxFailures: config.loginMaxFailuresPerIp, windowMs: config.loginWindowMs }),
    },
  });
  // Expired sessions are refused when used; this only keeps the table small.
  const sweep = setInterval(() => void store.deleteExpiredSessions().catch(() => {}), 3_600_000);
  (sweep as { unref?: () => void }).unref?.();
  const http = Bun.serve({ hostname: config.httpHost, port: config.httpPort, fetch: app.fetch, idleTimeout: 60, maxRequestBodySize: config.maxUploadBytes + (1 << 20) });
  const url = `http://${config.httpHost}:${http.port}`;
  listening = url;
  // The default KBS URL of encrypted assets is this address: a wildcard one reaches no agent.
  if (!config.publicUrl && /^(0\.0\.0\.0|::|\[::\])$/.test(config.httpHost)) log.warn("CONSOLE_PUBLIC_URL is not set and the console listens on a wildcard address: encrypted assets would name an unreachable KBS", { url });
  log.info("console listening", { url, managers_grpc: `${config.grpcHost}:${grpcPort}${tls ? " (TLS)" : ""}`, db: config.db.replace(/:[^:@/]*@/, ":***@") });
  return {
    config, store, hub, writer, url, grpcPort, http,
    async stop() {
      clearInterval(sweep);
      await hub.close();
      http.stop(true);
      await writer.flush();
      await store.close();
    },
  };
}
