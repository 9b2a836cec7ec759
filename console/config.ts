// Console configuration from CONSOLE_* environment variables.
import { join } from "node:path";
import { parseDurationMs } from "../protocol/env-values.ts";
import { DEFAULT_MAX_UPLOAD_BYTES } from "./routes/uploads.ts";

export interface ConsoleConfig {
  /** CONSOLE_DB: sqlite:PATH (default sqlite:./.cocos/console/console.db) or postgres://… */
  db: string;
  /** CONSOLE_HTTP_HOST / CONSOLE_HTTP_PORT: the API and UI (default 127.0.0.1:7010; 0 = any free port). */
  httpHost: string;
  httpPort: number;
  /** CONSOLE_GRPC_HOST / CONSOLE_GRPC_PORT: where managers dial (MANAGER_GRPC_URL; default 127.0.0.1:7001). */
  grpcHost: string;
  grpcPort: number;
  /** CONSOLE_GRPC_SERVER_CERT / CONSOLE_GRPC_SERVER_KEY: PEM files for TLS on the managers' port (both or neither). */
  grpcServerCert: string;
  grpcServerKey: string;
  /** CONSOLE_SESSION_TTL: lifetime of a session or bearer token (Go duration, default 12h). */
  sessionTtlMs: number;
  /** CONSOLE_SECURE_COOKIE=true when the console is reached over HTTPS. */
  secureCookie: boolean;
  /** CONSOLE_LOGIN_MAX_FAILURES (per account, 5) and CONSOLE_LOGIN_MAX_FAILURES_PER_IP (50) within CONSOLE_LOGIN_WINDOW (15m). */
  loginMaxFailures: number;
  loginMaxFailuresPerIp: number;
  loginWindowMs: number;
  /** CONSOLE_STOP_AFTER_COMPLETE: stop a run's VM this long after its results were consumed (default 10s; "off" = leave it to Stop). */
  stopAfterCompleteMs: number | null;
  /** CONSOLE_MAX_UPLOAD_BYTES: largest encrypted upload the console relays to an agent (default 128 MiB). */
  maxUploadBytes: number;
  /** CONSOLE_UI_DIR: the built web UI (default console/ui/dist). */
  uiDir: string;
  /**
   * CONSOLE_PUBLIC_URL: where agents (and browsers) reach this console's HTTP port, e.g.
   * https://console.example:7010 — the KBS URL of encrypted assets that name no other broker.
   * '' = the address it listens on (http://CONSOLE_HTTP_HOST:port).
   */
  publicUrl: string;
}

function publicUrl(v: string | undefined): string {
  if (!v) return "";
  if (!/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/i.test(v)) throw new Error(`CONSOLE_PUBLIC_URL: expected an http:// or https:// base URL without query, got ${JSON.stringify(v)}`);
  return v.replace(/\/+$/, "");
}

function int(env: Record<string, string | undefined>, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === "") return dflt;
  if (!/^\d+$/.test(v)) throw new Error(`${name}: expected a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

export function loadConsoleConfig(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): ConsoleConfig {
  const secure = env.CONSOLE_SECURE_COOKIE ?? "false";
  if (secure !== "true" && secure !== "false") throw new Error(`CONSOLE_SECURE_COOKIE: expected true or false, got ${JSON.stringify(secure)}`);
  if (Boolean(env.CONSOLE_GRPC_SERVER_CERT) !== Boolean(env.CONSOLE_GRPC_SERVER_KEY)) {
    throw new Error("CONSOLE_GRPC_SERVER_CERT and CONSOLE_GRPC_SERVER_KEY: expected both (TLS for managers) or neither, got one");
  }
  return {
    db: env.CONSOLE_DB || `sqlite:${join(cwd, ".cocos", "console", "console.db")}`,
    httpHost: env.CONSOLE_HTTP_HOST || "127.0.0.1",
    httpPort: int(env, "CONSOLE_HTTP_PORT", 7010),
    grpcHost: env.CONSOLE_GRPC_HOST || "127.0.0.1",
    grpcPort: int(env, "CONSOLE_GRPC_PORT", 7001),
    grpcServerCert: env.CONSOLE_GRPC_SERVER_CERT || "",
    grpcServerKey: env.CONSOLE_GRPC_SERVER_KEY || "",
    sessionTtlMs: parseDurationMs(env.CONSOLE_SESSION_TTL || "12h", "CONSOLE_SESSION_TTL"),
    secureCookie: secure === "true",
    loginMaxFailures: int(env, "CONSOLE_LOGIN_MAX_FAILURES", 5),
    loginMaxFailuresPerIp: int(env, "CONSOLE_LOGIN_MAX_FAILURES_PER_IP", 50),
    loginWindowMs: parseDurationMs(env.CONSOLE_LOGIN_WINDOW || "15m", "CONSOLE_LOGIN_WINDOW"),
    stopAfterCompleteMs: env.CONSOLE_STOP_AFTER_COMPLETE === "off" ? null : parseDurationMs(env.CONSOLE_STOP_AFTER_COMPLETE || "10s", "CONSOLE_STOP_AFTER_COMPLETE"),
    maxUploadBytes: int(env, "CONSOLE_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES),
    uiDir: env.CONSOLE_UI_DIR || join(import.meta.dir, "ui", "dist"),
    publicUrl: publicUrl(env.CONSOLE_PUBLIC_URL),
  };
}
