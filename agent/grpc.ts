// agent.AgentService over grpc-js, plus grpc.health.v1 ("agent" → SERVING). Uploads only pass their
// messages to the computation's input session (input-session.ts), which runs every check in order:
// authentication, state, then content; nothing is stored before all checks passed.
import * as grpc from "@grpc/grpc-js";
import type { Http2Server, Http2Session } from "node:http2";
import { bytesChunks, fileChunks } from "../protocol/chunks.ts";
import { AgentServiceDef, HealthServiceDef } from "../protocol/proto.ts";
import type { Evidence, EvidenceProvider } from "../attestation/providers/types.ts";
import { MD_REPORT_PURPOSE } from "../attestation/browser/upload-key.ts";
import { AgentError, failedPrecondition, internal, invalidArgument } from "./errors.ts";
import { Computation, METHOD_RESULT } from "./computation.ts";
import type { AlgoMessage, DataMessage, InputSession } from "./input-session.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { attestationReport, type UploadKey } from "./upload-key.ts";

const MALFORMED = Symbol("malformed");
type Maybe<T> = T & { [MALFORMED]?: string };

/** grpc-js answers a deserialisation failure with INTERNAL; Cocos clients should see INVALID_ARGUMENT. */
function tolerantService(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(def)) {
    out[name] = {
      ...m,
      requestDeserialize: (buf: Buffer) => {
        try {
          return m.requestDeserialize(buf);
        } catch (err) {
          return { [MALFORMED]: (err as Error).message };
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

function toStatus(err: unknown): grpc.ServiceError {
  const e = err instanceof AgentError ? err : internal(`internal error: ${(err as Error)?.message ?? String(err)}`);
  return Object.assign(new Error(e.message), { code: e.code, details: e.message, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

/**
 * What the agent's log (read by the host) says about a refused call: an AgentError's host message, and
 * for anything else only its kind, since e.g. a file-system error can quote a path made of upload content.
 */
export function hostReason(err: unknown): string {
  if (err instanceof AgentError) return err.hostMessage;
  const code = (err as NodeJS.ErrnoException)?.code;
  return `internal error (${(err as Error)?.name ?? typeof err}${typeof code === "string" ? ` ${code}` : ""})`;
}

export interface AttestationSource {
  /** Evidence for `reportData` (≤ 64 bytes, zero-padded) of the requested Cocos type (0 SNP, 4 TDX). */
  provider(): EvidenceProvider | null;
}

export interface AgentServiceOptions {
  computation: Computation;
  attestation: AttestationSource;
  log: Logger;
  metrics: Metrics;
  /** The upload key bound into evidence (upload-key.ts); a sealed upload needs it. */
  uploadKey?: UploadKey;
}

// Cocos AttestationType values (pkg/attestation): SNP=0, VTPM=1, SNPvTPM=2, Azure=3, TDX=4.
const ATTESTATION_TYPES: Record<number, string> = { 0: "SNP", 1: "vTPM", 2: "SNP+vTPM", 3: "Azure", 4: "TDX" };

type UploadMethod = "Algo" | "Data";
const UPLOAD_WHAT: Record<UploadMethod, string> = { Algo: "algorithm", Data: "dataset" };

export function agentHandlers(o: AgentServiceOptions): grpc.UntypedServiceImplementation {
  const c = o.computation;

  /** Hands each message of the stream to the session; a malformed one or a cancelled stream ends it. */
  async function consume<T>(call: grpc.ServerReadableStream<Maybe<T>, unknown>, session: InputSession<T>): Promise<void> {
    let cancelled = false;
    call.on("cancelled", () => (cancelled = true));
    for await (const msg of call as AsyncIterable<Maybe<T>>) {
      if (msg[MALFORMED] !== undefined) throw invalidArgument(`malformed request message: ${msg[MALFORMED]}`);
      await session.receive(msg);
    }
    if (cancelled || call.cancelled) throw invalidArgument("upload cancelled by the client before it completed");
  }

  /**
   * Every upload: the computation opens the session (authentication, role, state), the messages pass
   * through, the session commits; any refusal discards what this upload wrote and maps to a status.
   */
  function serveUpload<T>(method: UploadMethod, call: grpc.ServerReadableStream<Maybe<T>, unknown>, cb: grpc.sendUnaryData<unknown>, open: (md: grpc.Metadata) => Promise<InputSession<T>>): void {
    let session: InputSession<T> | null = null;
    (async () => {
      session = await open(call.metadata);
      await consume(call, session);
      return session.commit();
    })().then(
      (bytes) => {
        o.metrics.upload(method, "ok", bytes);
        cb(null, {});
      },
      async (err) => {
        await (session as InputSession<T> | null)?.discard();
        o.metrics.upload(method, "rejected");
        o.log.warn(`${UPLOAD_WHAT[method]} upload rejected`, { error: hostReason(err) });
        cb(toStatus(err));
      },
    );
  }

  return {
    Algo(call: grpc.ServerReadableStream<Maybe<AlgoMessage>, unknown>, cb: grpc.sendUnaryData<unknown>) {
      serveUpload("Algo", call, cb, (md) => c.algorithmInput(md));
    },

    Data(call: grpc.ServerReadableStream<Maybe<DataMessage>, unknown>, cb: grpc.sendUnaryData<unknown>) {
      serveUpload("Data", call, cb, (md) => c.datasetInput(md));
    },

    Result(call: grpc.ServerWritableStream<Maybe<object>, { file: Uint8Array }>) {
      (async () => {
        c.authenticate("consumer", METHOD_RESULT, call.metadata);
        if ((call.request as Maybe<object>)[MALFORMED] !== undefined) throw invalidArgument(`malformed request message: ${(call.request as Maybe<object>)[MALFORMED]}`);
        const { path, size } = await c.results();
        const md = new grpc.Metadata();
        md.set("file-size", String(size));
        call.sendMetadata(md);
        // Read piece by piece: the archive is never held whole for the download.
        for await (const chunk of fileChunks(path)) {
          if (call.cancelled) throw invalidArgument("download cancelled by the client");
          if (!call.write({ file: chunk })) await new Promise((r) => call.once("drain", r));
        }
        return size;
      })().then(
        (size) => {
          call.end();
          c.resultsDelivered();
          o.metrics.resultDownloads++;
          o.log.info("results delivered", { bytes: size });
        },
        (err) => {
          o.log.warn("result request rejected", { error: hostReason(err) });
          call.emit("error", toStatus(err));
        },
      );
    },

    Attestation(call: grpc.ServerWritableStream<Maybe<{ teeNonce: Buffer; vtpmNonce: Buffer; type: number }>, { file: Uint8Array }>) {
      (async () => {
        const req = call.request;
        if (req[MALFORMED] !== undefined) throw invalidArgument(`malformed request message: ${req[MALFORMED]}`);
        const tee = req.teeNonce ?? Buffer.alloc(0);
        const vtpm = req.vtpmNonce ?? Buffer.alloc(0);
        if (tee.length > 64) throw invalidArgument(`malformed report data, expect less or equal to 64 bytes, got ${tee.length}`);
        if (vtpm.length > 32) throw invalidArgument(`malformed vTPM nonce, expect less or equal to 32 bytes, got ${vtpm.length}`);
        const type = req.type ?? 0;
        if (!(type in ATTESTATION_TYPES)) throw invalidArgument(`invalid attestation type in attestation request: ${type}, expected 0 (SNP), 1 (vTPM), 2 (SNP+vTPM), 3 (Azure) or 4 (TDX)`);
        const p = o.attestation.provider();
        if (!p) throw failedPrecondition("attestation type does not exist or is not supported: this agent has no evidence provider");
        const wants = type === 0 ? ["snp", "sim"] : type === 4 ? ["tdx"] : [];
        if (!wants.includes(p.kind)) {
          throw failedPrecondition(`attestation type does not exist or is not supported: requested ${ATTESTATION_TYPES[type]}, this agent provides ${p.kind}`);
        }
        // Never the caller's bytes as they are: the report carries the RPC's label hashed with the
        // nonce, so a relay cannot obtain evidence that passes as an attested-TLS binding.
        // On request (metadata cocos-report-purpose: upload-key) the report binds the upload key instead.
        const purpose = String(call.metadata.get(MD_REPORT_PURPOSE)[0] ?? "");
        let ev: Evidence;
        const md = new grpc.Metadata();
        try {
          const r = await attestationReport(purpose, o.uploadKey, p, tee, c.audience);
          ev = r.evidence;
          for (const [k, v] of Object.entries(r.metadata)) md.set(k, v);
        } catch (err) {
          if (err instanceof AgentError) throw err;
          throw internal(`could not obtain ${p.kind} evidence: ${(err as Error).message}`);
        }
        md.set("file-size", String(ev.data.length));
        call.sendMetadata(md);
        for (const chunk of bytesChunks(ev.data)) call.write({ file: chunk });
        return ev;
      })().then(
        (ev) => {
          call.end();
          o.metrics.attestations++;
          o.log.info("attestation served", { kind: ev.kind, source: ev.source, simulated: ev.simulated, bytes: ev.data.length });
        },
        (err) => call.emit("error", toStatus(err)),
      );
    },
  };
}

const SERVING = "SERVING";

function healthHandlers(): grpc.UntypedServiceImplementation {
  const known = new Set(["", "agent"]);
  return {
    Check(call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      if (!known.has(call.request.service)) return cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` } as grpc.ServiceError);
      cb(null, { status: SERVING });
    },
    Watch(call: grpc.ServerWritableStream<{ service: string }, unknown>) {
      call.write({ status: known.has(call.request.service) ? SERVING : "SERVICE_UNKNOWN" });
    },
  };
}

/** Text metadata a client may repeat, one value per item; every other repeated header stays joined. */
const REPEATABLE = new Set(["algo_args"]);

/**
 * Repeated `algo_args` headers, one value each, from the raw HTTP/2 header list. Node's and Bun's
 * http2 join a repeated text header into one "a, b" string, and grpc-js builds the call's metadata
 * from that joined form: Cocos's Go CLI sends each argument as its own text value, so a JSON argument
 * with ", " inside would come apart. Rewriting the header object before grpc-js reads it keeps them
 * whole. Single-valued headers (signature, nonce, timestamp, version) stay joined, so a duplicate of
 * one still fails its check instead of one copy being picked.
 */
export function keepRepeatedHeaders(headers: Record<string, string | string[] | undefined>, rawHeaders: unknown): void {
  if (!Array.isArray(rawHeaders)) return;
  const values = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = String(rawHeaders[i]).toLowerCase();
    if (REPEATABLE.has(name)) values.set(name, [...(values.get(name) ?? []), String(rawHeaders[i + 1])]);
  }
  for (const [name, list] of values) if (list.length > 1) headers[name] = list;
}

/**
 * HTTP/2 settings the agent advertises. Larger DATA frames than the 16 KiB default let a client send
 * a 1 MiB upload chunk in one frame instead of 64, and a larger stream window keeps it sending while
 * the agent hashes (bench/upload.ts).
 */
export const HTTP2_SETTINGS = { maxFrameSize: 1 << 20, initialWindowSize: 8 << 20 } as const;
/**
 * Receive window of the whole connection, bytes (not a setting: it starts at 64 KiB). Twice a stream's,
 * so it never is the limit: paired runs upload ~15 % faster with less CLI CPU. (32 MiB stalled an
 * upload for good once on Bun 1.4.4; 16 MiB never did in the bench or the tests.)
 */
export const CONNECTION_WINDOW = 16 << 20;
/**
 * Installs keepRepeatedHeaders ahead of grpc-js's own "stream" listener on every HTTP/2 server the
 * grpc.Server creates, and applies HTTP2_SETTINGS and CONNECTION_WINDOW to it. grpc-js exposes no hook for either; it sets
 * its listeners up in _setupHandlers.
 */
function tuneHttp2(server: grpc.Server): void {
  const s = server as unknown as { _setupHandlers?: (h2: Http2Server | null, ...rest: unknown[]) => unknown };
  const setup = s._setupHandlers;
  if (typeof setup !== "function") throw new Error("grpc-js no longer has Server._setupHandlers: repeated algo_args values would be joined");
  s._setupHandlers = function (this: unknown, h2, ...rest) {
    h2?.prependListener("stream", (_stream, headers, _flags, rawHeaders: unknown) => keepRepeatedHeaders(headers, rawHeaders));
    h2?.updateSettings(HTTP2_SETTINGS);
    h2?.on("session", (session: Http2Session) => session.setLocalWindowSize(CONNECTION_WINDOW));
    return setup.call(this, h2, ...rest);
  };
}

export function createAgentGrpcServer(o: AgentServiceOptions): grpc.Server {
  // No channelz: nothing reads it, and its per-message call tracking showed up in the upload profile.
  const server = new grpc.Server({ "grpc.max_receive_message_length": 4 * 1024 * 1024 + 1024, "grpc.enable_channelz": 0 });
  tuneHttp2(server);
  server.addService(tolerantService(AgentServiceDef), agentHandlers(o));
  server.addService(HealthServiceDef, healthHandlers());
  return server;
}

export function bindServer(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port))));
}
