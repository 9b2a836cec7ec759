// AGENT_GRPC_* settings of the original CLI (cocos-agent.md §7.4, §8).
import { parseDurationMs, parseGoBool } from "../protocol/env-values.ts";

export interface AgentClientConfig {
  url: string;
  /** Connect + health-check deadline (uploads themselves are not cut off). */
  timeoutMs: number;
  serverCaCerts: string;
  clientCert: string;
  clientKey: string;
  attestedTls: boolean;
  attestationPolicy: string;
  /**
   * v2 (default) = replay-resistant, bound to the computation and the agent; v1 = Cocos constant-role
   * signatures, only when asked for (COCOS_SIGNATURE=v1 or --signature v1).
   */
  signature: "v1" | "v2";
}

export function loadAgentClientConfig(env: Record<string, string | undefined> = process.env): AgentClientConfig {
  const get = (n: string, d: string) => (env[n] === undefined || env[n] === "" ? d : env[n]!);
  const sig = get("COCOS_SIGNATURE", "v2");
  if (sig !== "v1" && sig !== "v2") throw new Error(`COCOS_SIGNATURE: expected v1 or v2, got ${JSON.stringify(sig)}`);
  return {
    url: get("AGENT_GRPC_URL", "localhost:7002"),
    timeoutMs: parseDurationMs(get("AGENT_GRPC_TIMEOUT", "60s"), "AGENT_GRPC_TIMEOUT"),
    serverCaCerts: get("AGENT_GRPC_SERVER_CA_CERTS", ""),
    clientCert: get("AGENT_GRPC_CLIENT_CERT", ""),
    clientKey: get("AGENT_GRPC_CLIENT_KEY", ""),
    attestedTls: parseGoBool(get("AGENT_GRPC_ATTESTED_TLS", "false"), "AGENT_GRPC_ATTESTED_TLS"),
    attestationPolicy: get("AGENT_GRPC_ATTESTATION_POLICY", ""),
    signature: sig,
  };
}
