// A party's encrypted upload through the console. The page asks for the agent's upload-key evidence
// (relayed untouched, verified in the page), encrypts the file to the attested key, signs the call,
// and posts the ciphertext here; the console streams it to the agent's Data RPC. The console never
// holds a plaintext byte or the AES key: it only relays ciphertext and what the agent answered.
import * as grpc from "@grpc/grpc-js";
import type { Context, Hono } from "hono";
import { MD_REPORT_PURPOSE, MD_TLS_SPKI_SHA3, MD_UPLOAD_KEY, PURPOSE_UPLOAD_KEY } from "../../attestation/browser/upload-key.ts";
import { checkFilename } from "../../protocol/manifest.ts";
import { MD_SEALED_KEY } from "../../protocol/request-message.ts";
import { ApiError, badRequest, shown } from "../errors.ts";
import { agentClient, fetchEvidenceWith } from "../evidence.ts";
import { jsonBody } from "../http-guards.ts";
import { nonceField, runAccess, runningAgent, type ApiOptions, type Env } from "./kit.ts";

/** Request headers carrying the agent call's metadata: `cocos-md-<key>`, only these keys. */
export const MD_HEADER_PREFIX = "cocos-md-";
export const RELAYED_METADATA = ["user-id", "signature", "signature-version", "signature-timestamp", "signature-nonce", "user-key", "signature-audience", MD_SEALED_KEY] as const;
/** Default cap on an upload body (CONSOLE_MAX_UPLOAD_BYTES): Bun.serve's own default body limit. */
export const DEFAULT_MAX_UPLOAD_BYTES = 128 << 20;
const CHUNK = 1 << 20;

// How an agent refusal reads over HTTP: the status that fits, the agent's words.
const HTTP_OF: Partial<Record<grpc.status, ApiError["status"]>> = {
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.UNAUTHENTICATED]: 401,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.FAILED_PRECONDITION]: 409,
  [grpc.status.ALREADY_EXISTS]: 409,
};

export function agentRefusal(err: grpc.ServiceError): ApiError {
  const status = HTTP_OF[err.code] ?? 502;
  const name = grpc.status[err.code] ?? String(err.code);
  return new ApiError(status, status === 502 ? "agent_unreachable" : "agent_refused", `the agent refused the upload (${name}): ${err.details || err.message}`);
}

function relayedMetadata(c: Context): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const k of RELAYED_METADATA) {
    const v = c.req.header(MD_HEADER_PREFIX + k);
    if (v !== undefined) md.set(k, v);
  }
  if (md.get(MD_SEALED_KEY).length === 0) throw badRequest(`expected a sealed upload: header ${MD_HEADER_PREFIX}${MD_SEALED_KEY} (the AES key wrapped to the agent's attested upload key) is missing; the console relays only encrypted inputs`);
  if (md.get("signature").length === 0) throw badRequest(`expected the party's request signature in header ${MD_HEADER_PREFIX}signature, got none`);
  return md;
}

/** Streams the request body into the agent's Data call, at most `max` bytes, honouring back-pressure. */
async function relayBody(body: ReadableStream<Uint8Array>, call: grpc.ClientWritableStream<{ dataset: Uint8Array; filename: string }>, filename: string, max: number): Promise<number> {
  let total = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw new ApiError(413, "body_too_large", `upload is more than ${max} bytes (CONSOLE_MAX_UPLOAD_BYTES); nothing was kept`);
    }
    for (let off = 0; off < value.byteLength; off += CHUNK) {
      if (!call.write({ dataset: value.subarray(off, off + CHUNK), filename })) await new Promise((r) => call.once("drain", r));
    }
  }
  return total;
}

export function uploadRoutes(app: Hono<Env>, o: ApiOptions): void {
  const { store } = o;
  const maxBytes = o.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;

  // Evidence binding the agent's upload key and TLS key to the caller's nonce, relayed untouched.
  app.post("/api/runs/:id/upload-key", async (c) => {
    const { r, a } = await runAccess(store, c);
    const nonceHex = nonceField(await jsonBody(c));
    const address = await runningAgent(store, r);
    const md = new grpc.Metadata();
    md.set(MD_REPORT_PURPOSE, PURPOSE_UPLOAD_KEY);
    let got: Awaited<ReturnType<typeof fetchEvidenceWith>>;
    try {
      got = await fetchEvidenceWith(address, a.computation.attested_tls, Buffer.from(nonceHex, "hex"), md);
    } catch (e) {
      throw new ApiError(502, "agent_unreachable", `the agent at ${address} did not return upload-key evidence: ${(e as Error).message}`);
    }
    return c.json({
      run_id: r.id, computation_id: r.computation_id, manifest_sha3_256: r.manifest_hash, manifest_json: r.manifest_json, nonce: nonceHex.toLowerCase(),
      evidence_base64: Buffer.from(got.evidence).toString("base64"),
      upload_public_key_base64: String(got.metadata.get(MD_UPLOAD_KEY)[0] ?? ""),
      tls_spki_sha3_256: String(got.metadata.get(MD_TLS_SPKI_SHA3)[0] ?? ""),
      policy: r.policy === null ? null : JSON.parse(r.policy),
    });
  });

  // The ciphertext of one dataset (body) and the agent call's metadata (cocos-md-* headers).
  app.post("/api/runs/:id/uploads/dataset", async (c) => {
    const { r, a } = await runAccess(store, c);
    if (a.me?.role !== "data_provider") throw new ApiError(403, "forbidden", `only a data provider of computation ${r.computation_id} uploads datasets; you take part as ${a.me?.role ?? "its owner"}`);
    const filename = c.req.query("filename") ?? "";
    const bad = checkFilename(filename);
    if (bad) throw badRequest(`filename: expected the dataset's file name as in the manifest, got ${shown(filename)} (${bad})`);
    const declared = Number(c.req.header("content-length") ?? 0);
    if (declared > maxBytes) throw new ApiError(413, "body_too_large", `upload is ${declared} bytes, at most ${maxBytes} accepted (CONSOLE_MAX_UPLOAD_BYTES)`);
    const md = relayedMetadata(c);
    if (!c.req.raw.body) throw badRequest("expected the sealed dataset as the request body, got none");
    const address = await runningAgent(store, r);
    const client = agentClient(address, a.computation.attested_tls);
    try {
      let done!: (err: grpc.ServiceError | null) => void;
      const answered = new Promise<grpc.ServiceError | null>((r) => (done = r));
      const call = client.Data(md, { deadline: Date.now() + 10 * 60_000 }, (err) => done(err));
      let bytes: number;
      try {
        bytes = await relayBody(c.req.raw.body, call, filename, maxBytes);
      } catch (e) {
        call.cancel();
        await answered;
        throw e;
      }
      call.end();
      const err = await answered;
      if (err) throw agentRefusal(err);
      return c.json({ ok: true, run_id: r.id, filename, ciphertext_bytes: bytes }, 201);
    } finally {
      client.close();
    }
  });
}
