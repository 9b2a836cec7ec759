// AGENT_GRPC_* settings of the original CLI (cocos-agent.md §7.4, §8).
export interface AgentClientConfig {
  url: string;
  /** Connect + health-check deadline (uploads themselves are not cut off). */
  timeoutMs: number;
  serverCaCerts: string;
  clientCert: string;
  clientKey: string;
  attestedTls: boolean;
  attestationPolicy: string;
  /** v1 = Cocos constant-role signatures, v2 = replay-resistant (COCOS_SIGNATURE=v2 or --signature v2). */
  signature: "v1" | "v2";
}

/** Go strconv.ParseBool. */
export function parseGoBool(text: string, name: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  throw new Error(`${name}: expected a boolean (true/false/1/0/t/f), got ${JSON.stringify(text)}`);
}

export function parseDurationMs(text: string, name: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = t;
  while (rest.length) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`${name}: expected a duration like 60s, 1m30s or 500ms, got ${JSON.stringify(text)}`);
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

export function loadAgentClientConfig(env: Record<string, string | undefined> = process.env): AgentClientConfig {
  const get = (n: string, d: string) => (env[n] === undefined || env[n] === "" ? d : env[n]!);
  const sig = get("COCOS_SIGNATURE", "v1");
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
