#!/usr/bin/env bun
// cocos-manager entry point (compiled into dist/cocos-manager): dials the computations server,
// re-adopts VMs from the state dir, serves the HTTP API, and keeps going until SIGINT/SIGTERM.
// On shutdown VMs keep running; the next manager re-adopts them.
import { createBackend } from "./backends/index.ts";
import { loadManagerConfig } from "./config.ts";
import { managerApp } from "./http.ts";
import { createLogger } from "./log.ts";
import { ServerLink } from "./server-link.ts";
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
    log,
  });
  const manager = new Manager(cfg, backend, new StateStore(cfg.stateDir), link, log);
  const restored = await manager.restore();
  log.info("state dir loaded", { dir: cfg.stateDir, ...restored });
  link.onMessage((m) => manager.handle(m));
  link.start();
  let http: ReturnType<typeof Bun.serve> | null = null;
  if (cfg.httpPort !== null) {
    const app = managerApp(manager, { version: VERSION, instanceId: cfg.instanceId, connected: () => link.connected });
    try {
      http = Bun.serve({ hostname: cfg.httpHost, port: cfg.httpPort, fetch: app.fetch });
      log.info("manager HTTP API listening", { url: `http://${cfg.httpHost}:${http.port}` });
    } catch (e) {
      log.warn("manager HTTP API not started", { host: cfg.httpHost, port: cfg.httpPort, error: e as Error });
    }
  }
  return {
    manager,
    link,
    http,
    async shutdown() {
      link.close();
      http?.stop(true);
      await manager.detach();
    },
  };
}

if (import.meta.main) {
  let running: Awaited<ReturnType<typeof startManager>>;
  try {
    running = await startManager();
  } catch (e) {
    process.stderr.write(`cocos-manager: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const stop = () => void running.shutdown().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
