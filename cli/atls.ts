// Attested-TLS channel credentials for AGENT_GRPC_ATTESTED_TLS=true: fetch the agent's certificate
// with a fresh nonce, verify the evidence inside it against AGENT_GRPC_ATTESTATION_POLICY, then pin
// that exact key for the gRPC channel. Nothing is uploaded unless the verdict is VERIFIED.
import * as grpc from "@grpc/grpc-js";
import { connectAttested } from "../attestation/atls.ts";
import { formatVerdict, verdictWarnings } from "../attestation/format.ts";
import { readPolicy } from "../attestation/policy.ts";
import { escapeControl } from "../protocol/text.ts";
import type { AttestedCredentialsFactory } from "./agent-client.ts";
import { CliError } from "./errors.ts";

export function splitHostPort(url: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(url.replace(/^[a-z]+:\/\//, ""));
  if (!m) throw new CliError(`AGENT_GRPC_URL: expected host:port, got ${JSON.stringify(url)}`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

/** A TLS client hello answered in plaintext: the agent was started without attested TLS. */
function plaintextHint(reason: string | undefined): string {
  if (!/WRONG_VERSION_NUMBER|wrong version number|packet length too long|http request/i.test(reason ?? "")) return "";
  return "\nThe agent answered without TLS: its computation was started with attested TLS off (`computations serve ALGO KEY false …`, or agent_config.attested_tls false in the manifest). Start it with attested TLS on, or unset AGENT_GRPC_ATTESTED_TLS.";
}

export const attestedCredentials: AttestedCredentialsFactory = async (cfg) => {
  const { host, port } = splitHostPort(cfg.url);
  let policy;
  try {
    policy = await readPolicy(cfg.attestationPolicy);
  } catch (e) {
    throw new CliError(`could not read AGENT_GRPC_ATTESTATION_POLICY ${cfg.attestationPolicy}: ${(e as Error).message}`);
  }
  // Like waitForReady on a plain channel: a refused connection (agent still booting) is retried
  // until AGENT_GRPC_TIMEOUT; any verification failure ends it at once.
  const deadline = Date.now() + cfg.timeoutMs;
  let conn = await connectAttested(host, port, policy, { timeoutMs: cfg.timeoutMs });
  while (!conn.verdict.ok && conn.verdict.code === "atls.handshake" && /ECONNREFUSED|ECONNRESET/.test(conn.verdict.reason ?? "") && Date.now() < deadline) {
    await Bun.sleep(200);
    conn = await connectAttested(host, port, policy, { timeoutMs: Math.max(1000, deadline - Date.now()) });
  }
  if (!conn.verdict.ok || !conn.rootCertPem) {
    throw new CliError(`attested TLS: the agent at ${cfg.url} did not prove it runs what the policy expects; nothing was sent.\n${escapeControl(formatVerdict(conn.verdict))}${plaintextHint(conn.verdict.reason)}`);
  }
  return {
    credentials: grpc.credentials.createSsl(Buffer.from(conn.rootCertPem), null, null, { checkServerIdentity: conn.checkServerIdentity }),
    options: conn.channelOptions,
    warnings: verdictWarnings(conn.verdict),
    spki: conn.spki, // v2 signatures name this attested key (their audience)
    summary: `Attestation verified${conn.verdict.simulated ? " (SIMULATED: no hardware TEE)" : ""}: ${conn.verdict.kind}, measurement ${String(conn.verdict.claims.measurement ?? "?").slice(0, 16)}…, host_data ${String(conn.verdict.claims.host_data ?? "?").slice(0, 16)}…`,
  };
};
