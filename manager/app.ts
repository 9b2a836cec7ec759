// The manager as a library: config → backend → state restore → computations-server link → HTTP API.
// manager/main.ts runs it as a program; tests start it in-process.
import { createBackend } from "./backends/index.ts";
import { loadManagerConfig } from "./config.ts";
import { allowedHosts, managerApp } from "./http.ts";
import { loadOrCreateHttpToken } from "./http-token.ts";
import { createLogger } from "./log.ts";
import { ServerLink, linkMetadata } from "./server-link.ts";
import { Manager } from "./service.ts";
import { StateStore } from "./state.ts";

const VERSION = "0.1.0";

export async function startManager(env: Record<string, string | undefined> = process.env) {
  const cfg = loadManagerConfig(env);
  const log = createLogger(cfg.logLevel, { service: "manager" });
  const { backend, reason } = await createBackend(cfg);
  log.info(`using the ${backend.name} backend`, { reason });
  const link = new ServerLink({
    url: cfg.grpcUrl,
    clientCert: cfg.grpcClientCert,
    clientKey: cfg.grpcClientKey,
    serverCaCerts: cfg.grpcServerCaCerts,
    initialBackoffMs: cfg.reconnectInitialMs,
    maxBackoffMs: cfg.reconnectMaxMs,
    metadata: linkMetadata({ stateDir: cfg.stateDir, managerId: cfg.managerId, consoleToken: cfg.consoleToken, backend: backend.name }),
    log,
  });
  const manager = new Manager(cfg, backend, new StateStore(cfg.stateDir), link, log);
  const restored = await manager.restore();
  log.info("state dir loaded", { dir: cfg.stateDir, ...restored });
  link.onMessage((m) => manager.handle(m));
  link.start();
  let http: ReturnType<typeof Bun.serve> | null = null;
  let httpToken = "";
  if (cfg.httpPort !== null) {
    const { token, source } = loadOrCreateHttpToken(cfg.stateDir, cfg.httpToken);
    httpToken = token;
    // The Host check needs the port actually bound (MANAGER_HTTP_PORT=0 picks one).
    let hostAllowed = (_h: string) => false;
    const app = managerApp(manager, { version: VERSION, instanceId: cfg.instanceId, connected: () => link.connected }, { token, hostAllowed: (h) => hostAllowed(h) });
    try {
      http = Bun.serve({ hostname: cfg.httpHost, port: cfg.httpPort, fetch: app.fetch });
      hostAllowed = allowedHosts(cfg.httpHost, http.port!, cfg.httpAllowedHosts);
      log.info("manager HTTP API listening", { url: `http://${cfg.httpHost}:${http.port}`, token: source });
    } catch (e) {
      log.warn("manager HTTP API not started", { host: cfg.httpHost, port: cfg.httpPort, error: e as Error });
    }
  }
  return {
    manager,
    link,
    http,
    /** Bearer token of the HTTP API ("" when it is off). */
    httpToken,
    async shutdown() {
      link.close();
      http?.stop(true);
      await manager.detach();
    },
  };
}
