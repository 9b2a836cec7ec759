// The agent's attestation evidence for a browser (or any party) that verifies it itself: the console
// asks the agent's Attestation RPC with the caller's nonce as report data and relays the bytes
// untouched. The console is not trusted here: with attested TLS it does not even check the agent's
// certificate, since the evidence proves itself (signature chain, measurement, host_data, and the
// report data = the caller's fresh nonce, so a replayed or forged report fails the caller's check).
import * as grpc from "@grpc/grpc-js";
import { agentProto } from "../protocol/proto.ts";

export const MAX_NONCE_BYTES = 64;

export type AgentClient = grpc.Client & {
  Attestation(req: unknown, md: grpc.Metadata, o: grpc.CallOptions): grpc.ClientReadableStream<{ file: Uint8Array }>;
  Data(md: grpc.Metadata, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void): grpc.ClientWritableStream<{ dataset: Uint8Array; filename: string }>;
};

/** A client of the agent's gRPC port; with attested TLS the certificate is not checked (see the header). */
export function agentClient(address: string, attestedTls: boolean): AgentClient {
  const creds = attestedTls
    ? grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined })
    : grpc.credentials.createInsecure();
  return new agentProto.AgentService(address, creds, {
    "grpc.max_receive_message_length": 16 << 20,
    // TLS refuses an IP address as server name; the name is not checked anyway (see the header).
    ...(attestedTls ? { "grpc.ssl_target_name_override": "agent.cocos" } : {}),
  }) as unknown as AgentClient;
}

/** The evidence bytes of one Attestation call and its response metadata (the upload key travels there). */
export async function fetchEvidenceWith(address: string, attestedTls: boolean, nonce: Uint8Array, md: grpc.Metadata, timeoutMs = 20_000): Promise<{ evidence: Uint8Array; metadata: grpc.Metadata }> {
  const client = agentClient(address, attestedTls);
  try {
    const call = client.Attestation({ teeNonce: Buffer.from(nonce), vtpmNonce: Buffer.alloc(0), type: 0 }, md, { deadline: Date.now() + timeoutMs });
    const parts: Uint8Array[] = [];
    let head = new grpc.Metadata();
    await new Promise<void>((resolve, reject) => {
      call.on("metadata", (m: grpc.Metadata) => (head = m));
      call.on("data", (m: { file: Uint8Array }) => parts.push(m.file));
      call.on("error", reject);
      call.on("end", resolve);
    });
    return { evidence: Buffer.concat(parts), metadata: head };
  } finally {
    client.close();
  }
}

export async function fetchEvidence(address: string, attestedTls: boolean, nonce: Uint8Array, timeoutMs = 20_000): Promise<Uint8Array> {
  return (await fetchEvidenceWith(address, attestedTls, nonce, new grpc.Metadata(), timeoutMs)).evidence;
}
