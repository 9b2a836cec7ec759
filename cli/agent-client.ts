// The CLI's side of agent.AgentService: connection (plain, TLS, mTLS, attested TLS), health check,
// streamed uploads from disk in 1 MiB chunks, and downloads to a file.
import * as grpc from "@grpc/grpc-js";
import type { KeyObject } from "node:crypto";
import { closeSync, readFileSync, rmSync, writeSync } from "node:fs";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { agentProto, healthProto } from "../protocol/proto.ts";
import { bytesMessages, fileMessages, type Frame } from "./upload-frames.ts";
import { certificateSpki } from "../protocol/keys.ts";
import { certificateFileAsPem } from "../attestation/cert-file.ts";
import { audienceOf } from "../protocol/signature.ts";
import { isSealed } from "../protocol/sealed.ts";
import { escapeControl } from "../protocol/text.ts";
import type { AgentClientConfig } from "./config.ts";
import { CliError, friendlyGrpcError } from "./errors.ts";
import { createExclusive, publish, readHead, temporaryPathFor } from "./output-file.ts";
import type { Progress } from "./progress.ts";
import { unsealInPlace } from "./unseal.ts";

export type Role = "algorithm-provider" | "data-provider" | "consumer";
export type AgentMethod = "Algo" | "Data" | "Result";

/**
 * Produces the auth metadata (user-id, signature, …) for one call to the agent named by `audience`
 * (audienceOf its TLS key, "" without TLS).
 */
export type Signer = (role: Role, method: AgentMethod, audience: string) => Promise<Record<string, string>> | Record<string, string>;

export interface AgentConnection {
  client: grpc.Client & Record<string, Function>;
  mode: "without TLS" | "with TLS" | "with mTLS" | "with aTLS";
  /** One line about the verified evidence (aTLS only). */
  summary?: string;
  /** Caveats of the verified evidence (aTLS only), e.g. Milan reports being forgeable. */
  warnings?: string[];
  /** Who v2 signatures are for: audienceOf the attested / TLS server key, "" without TLS. */
  audience: string;
  close(): void;
}

/** Hook for attested TLS: returns channel credentials that verify evidence against the policy. */
export type AttestedCredentialsFactory = (
  cfg: AgentClientConfig,
) => Promise<{ credentials: grpc.ChannelCredentials; options?: grpc.ChannelOptions; summary?: string; warnings?: string[]; spki?: Uint8Array }>;

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
  // Nothing reads channelz; its per-message tracking costs CPU on every upload chunk.
  "grpc.enable_channelz": 0,
};

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CliError(`could not read ${what} ${path}: ${(e as Error).message}`);
  }
}

/** Certificates (PEM or DER, chains included) as the PEM bundle grpc-js takes. */
function readCertsPem(path: string, what: string): Buffer {
  try {
    return certificateFileAsPem(path, what);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

export async function connectAgent(cfg: AgentClientConfig, attested?: AttestedCredentialsFactory): Promise<AgentConnection> {
  let creds: grpc.ChannelCredentials;
  let mode: AgentConnection["mode"];
  let options = CHANNEL_OPTIONS;
  let summary: string | undefined;
  let warnings: string[] | undefined;
  // The server key the TLS handshake presented (for plain TLS: recorded while its certificate is checked).
  let serverSpki: Uint8Array | undefined;
  const recordServerKey = (host: string, cert: PeerCertificate): Error | undefined => {
    const err = checkServerIdentity(host, cert);
    if (!err) serverSpki = certificateSpki(new Uint8Array(cert.raw));
    return err;
  };
  if (cfg.attestedTls) {
    if (!attested) throw new CliError("AGENT_GRPC_ATTESTED_TLS=true but this build has no attested-TLS client");
    if (!cfg.attestationPolicy) throw new CliError("AGENT_GRPC_ATTESTED_TLS=true needs AGENT_GRPC_ATTESTATION_POLICY=<policy.json>");
    const r = await attested(cfg);
    creds = r.credentials;
    options = { ...CHANNEL_OPTIONS, ...r.options };
    summary = r.summary;
    warnings = r.warnings;
    serverSpki = r.spki;
    mode = "with aTLS";
  } else if (cfg.serverCaCerts) {
    const ca = readCertsPem(cfg.serverCaCerts, "AGENT_GRPC_SERVER_CA_CERTS");
    if (cfg.clientCert || cfg.clientKey) {
      if (!cfg.clientCert || !cfg.clientKey) throw new CliError("mTLS needs both AGENT_GRPC_CLIENT_CERT and AGENT_GRPC_CLIENT_KEY");
      creds = grpc.credentials.createSsl(ca, readPem(cfg.clientKey, "AGENT_GRPC_CLIENT_KEY"), readCertsPem(cfg.clientCert, "AGENT_GRPC_CLIENT_CERT"), {
        checkServerIdentity: recordServerKey,
      });
      mode = "with mTLS";
    } else {
      creds = grpc.credentials.createSsl(ca, null, null, { checkServerIdentity: recordServerKey });
      mode = "with TLS";
    }
  } else {
    creds = grpc.credentials.createInsecure();
    mode = "without TLS";
  }
  const client = new agentProto.AgentService(cfg.url, creds, options) as unknown as AgentConnection["client"];
  const deadline = Date.now() + cfg.timeoutMs;
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(deadline, (err) =>
      err ? reject(new CliError(`could not connect to the agent at ${cfg.url} ${mode} within ${cfg.timeoutMs} ms: ${err.message}`)) : resolve(),
    ),
  );
  // The original checks the health service on plaintext and mTLS connections.
  if (mode === "without TLS" || mode === "with mTLS") await checkHealth(cfg, creds, options, deadline);
  if (mode !== "without TLS" && !serverSpki) {
    client.close();
    throw new CliError(`connected to ${cfg.url} ${mode}, but the agent's TLS key is unknown: cannot bind signatures to this agent`);
  }
  return { client, mode, summary, warnings, audience: audienceOf(serverSpki), close: () => client.close() };
}

async function checkHealth(cfg: AgentClientConfig, creds: grpc.ChannelCredentials, options: grpc.ChannelOptions, deadline: number): Promise<void> {
  const health = new healthProto.Health(cfg.url, creds, options) as unknown as grpc.Client & {
    Check(req: { service: string }, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void): void;
  };
  try {
    const res = await new Promise<{ status: string }>((resolve, reject) =>
      health.Check({ service: "agent" }, { deadline }, (e, r) => (e ? reject(e) : resolve(r!))),
    );
    if (res.status !== "SERVING") throw new CliError(`agent service is unavailable at ${cfg.url}: health status ${escapeControl(String(res.status))}, expected SERVING`);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(friendlyGrpcError(e, "check the agent's health", cfg.url));
  } finally {
    health.close();
  }
}

function metadataOf(entries: Record<string, string | string[]>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) for (const x of Array.isArray(v) ? v : [v]) md.add(k, x);
  return md;
}

const AGENT_SERVICE = "/agent.AgentService/";
// Field numbers of proto/agent.proto's AlgoRequest and DataRequest.
const ALGO_ALGORITHM = 1;
const ALGO_REQUIREMENTS = 2;
const DATA_DATASET = 1;
const DATA_FILENAME = 2;

/**
 * Writes already-encoded `frames` to a client stream, honouring back-pressure, and awaits the unary
 * reply. The messages are passed to grpc-js as they are (an identity serializer): no protobufjs copy.
 */
async function clientStream(conn: AgentConnection, method: "Algo" | "Data", md: grpc.Metadata, frames: Iterable<Frame>, onSent: (n: number) => void): Promise<void> {
  let call!: grpc.ClientWritableStream<Buffer>;
  const reply = new Promise<void>((resolve, reject) => {
    call = conn.client.makeClientStreamRequest(AGENT_SERVICE + method, (b: Buffer) => b, () => ({}), md, (err: grpc.ServiceError | null) => (err ? reject(err) : resolve()));
  });
  // Observed here so an early rejection (auth, state) stops the writes without an unhandled rejection.
  let failed = false;
  reply.catch(() => (failed = true));
  for (const { msg, bytes } of frames) {
    if (failed) break;
    // Wait for room, unless the call has already failed (then no drain ever comes). Otherwise still
    // yield to the event loop: grpc-js hands a message to HTTP/2 only in a later microtask, so a loop
    // that never yields reads and frames 16 messages (its write buffer) before the first byte leaves,
    // then idles while they are sent: reading and sending would take turns instead of overlapping.
    if (!call.write(msg)) await Promise.race([new Promise<void>((r) => call.once("drain", r)), reply.then(() => {}, () => {})]);
    else await new Promise<void>((r) => setImmediate(r));
    onSent(bytes);
  }
  call.end();
  await reply;
}

export interface AlgoUpload {
  algorithmPath: string;
  requirementsPath?: string;
  algoType: string;
  args: string[];
  pythonRuntime: string;
}

export async function uploadAlgorithm(conn: AgentConnection, sign: Signer, up: AlgoUpload, bar: Progress, target: string): Promise<void> {
  const algoSize = Bun.file(up.algorithmPath).size;
  const reqSize = up.requirementsPath ? Bun.file(up.requirementsPath).size : 0;
  const md = metadataOf({
    ...(await sign("algorithm-provider", "Algo", conn.audience)),
    algo_type: up.algoType,
    algo_args: up.args,
    python_runtime: up.pythonRuntime,
  });
  // HTTP/2 servers built on node:http2 (grpc-js, also on Bun) join repeated text headers with ", ",
  // so `algo_args` arrives as one string and JSON args with ", " inside become ambiguous. The -bin
  // twin (base64 per value) survives intact; Go agents ignore it, ours prefers it.
  for (const a of up.args) md.add("algo_args-bin", Buffer.from(a));
  function* messages() {
    // Requirements first, then the algorithm, never both in one message (the original's order).
    if (up.requirementsPath) yield* fileMessages(up.requirementsPath, { field: ALGO_REQUIREMENTS });
    yield* fileMessages(up.algorithmPath, { field: ALGO_ALGORITHM });
  }
  bar.start(algoSize + reqSize);
  try {
    await clientStream(conn, "Algo", md, messages(), (n) => bar.add(n));
  } catch (e) {
    throw new CliError(friendlyGrpcError(e, "upload the algorithm", target), 1, e);
  } finally {
    bar.stop();
  }
}

export interface DataUpload {
  /** A file path, or in-memory bytes (a zipped directory). */
  source: { path: string } | { bytes: Uint8Array };
  filename: string;
  decompress: boolean;
}

export async function uploadDataset(conn: AgentConnection, sign: Signer, up: DataUpload, bar: Progress, target: string): Promise<void> {
  const md = metadataOf({ ...(await sign("data-provider", "Data", conn.audience)), decompress: up.decompress ? "true" : "false" });
  const size = "path" in up.source ? Bun.file(up.source.path).size : up.source.bytes.byteLength;
  const src = up.source;
  // Every message names the file; an empty one still sends one message that does.
  const field = { field: DATA_DATASET, extra: { field: DATA_FILENAME, value: up.filename } };
  const messages = "path" in src ? fileMessages(src.path, field, { always: true }) : bytesMessages(src.bytes, field, { always: true });
  bar.start(size);
  try {
    await clientStream(conn, "Data", md, messages, (n) => bar.add(n));
  } catch (e) {
    throw new CliError(friendlyGrpcError(e, "upload the dataset", target), 1, e);
  } finally {
    bar.stop();
  }
}

export const DEFAULT_MAX_RESULT_BYTES = 1024 * 1024 * 1024;

export interface ResultDownload {
  outPath: string;
  /** Stop (and keep nothing) once the agent sends more than this. */
  maxBytes: number;
  /** Replace an existing file at outPath. */
  force: boolean;
  /** Decrypts a sealed result (manifest seal_results): the consumer's private key. */
  consumerKey?: KeyObject;
}

/** `file-size` as a byte count; undefined when absent. An agent that sends garbage is refused. */
function announcedSize(m: grpc.Metadata): number | undefined {
  const v = m.get("file-size")[0];
  if (v === undefined) return undefined;
  const text = String(v);
  if (!/^\d{1,16}$/.test(text)) throw new CliError(`the agent's file-size header is not a byte count: ${JSON.stringify(escapeControl(text.slice(0, 64)))}`);
  return Number(text);
}

/** One result on its way to a temporary file: every byte checked against the limit and the announced size. */
class ResultSink {
  written = 0;
  announced: number | undefined;
  /** The first bytes, for the zip (or sealed) check. */
  head = new Uint8Array(0);

  constructor(
    private readonly fd: number,
    private readonly path: string,
    private readonly maxBytes: number,
  ) {}

  announce(m: grpc.Metadata): void {
    this.announced = announcedSize(m);
    if (this.announced !== undefined && this.announced > this.maxBytes) {
      throw new CliError(`the agent announces a ${this.announced}-byte result, more than the ${this.maxBytes}-byte limit; nothing saved (raise it with --max-size)`);
    }
  }

  /** Synchronous: the next message is not taken before this one is on disk, so memory stays flat. */
  write(chunk: Uint8Array): void {
    const total = this.written + chunk.byteLength;
    if (total > this.maxBytes) throw new CliError(`the agent sent more than the ${this.maxBytes}-byte limit; stopped, nothing saved (raise it with --max-size)`);
    if (this.announced !== undefined && total > this.announced) {
      throw new CliError(`the agent sent more than the ${this.announced} bytes its file-size header announced; stopped, nothing saved`);
    }
    try {
      for (let off = 0; off < chunk.byteLength; ) off += writeSync(this.fd, chunk, off);
    } catch (e) {
      throw new CliError(`could not write the result to ${this.path}: ${(e as Error).message}`);
    }
    if (this.head.byteLength < 8) this.head = Buffer.concat([this.head, chunk.subarray(0, 8 - this.head.byteLength)]);
    this.written = total;
  }

  /** After the last message: all announced bytes arrived, and they are a zip. */
  check(): void {
    if (this.announced !== undefined && this.written !== this.announced) {
      throw new CliError(`the agent announced ${this.announced} bytes (file-size) but sent ${this.written}; the result is incomplete, nothing saved`);
    }
    if (!isZip(this.head) && !isSealed(this.head)) {
      throw new CliError(`the agent's result is not a zip archive (${this.written} bytes starting ${toHexBytes(this.head)}, expected "PK\\x03\\x04" or "PK\\x05\\x06"); nothing saved`);
    }
  }
}

/**
 * Streams the result zip to a fresh temporary file next to `outPath` (ResultSink's checks), then
 * moves it into place. On any failure nothing is left behind. Returns the size.
 */
export async function downloadResult(conn: AgentConnection, sign: Signer, d: ResultDownload, bar: Progress, target: string): Promise<number> {
  const md = metadataOf(await sign("consumer", "Result", conn.audience));
  const tmp = temporaryPathFor(d.outPath);
  const fd = createExclusive(tmp, 0o600);
  const sink = new ResultSink(fd, tmp, d.maxBytes);
  const call = conn.client.Result({}, md) as grpc.ClientReadableStream<{ file: Uint8Array }>;
  let open = true;
  try {
    await new Promise<void>((resolve, reject) => {
      let stopped = false;
      // A local refusal cancels the call; messages already buffered are dropped, and the CANCELLED
      // error that follows does not replace the reason.
      const guarded = (step: () => void) => {
        if (stopped) return;
        try {
          step();
        } catch (e) {
          stopped = true;
          reject(e);
          call.cancel();
        }
      };
      call.on("metadata", (m: grpc.Metadata) => guarded(() => (sink.announce(m), bar.start(sink.announced ?? 0))));
      call.on("data", (msg: { file: Uint8Array }) => guarded(() => (sink.write(msg.file), bar.add(msg.file.byteLength))));
      call.on("error", (e) => {
        stopped = true;
        reject(e);
      });
      call.on("end", resolve);
    });
    sink.check();
    closeSync(fd);
    open = false;
    if (isSealed(sink.head)) {
      if (!d.consumerKey) throw new CliError("the result is sealed to the consumers' keys, and no private key was given to open it; nothing saved");
      sink.written = await unsealInPlace(tmp, d.consumerKey);
      // The consumers' keys are public: whoever relays the result could seal bytes of its own to them.
      const head = readHead(tmp, 4);
      if (!isZip(head)) throw new CliError(`the sealed result opened, but its content is not a zip archive (starts ${toHexBytes(head)}); nothing saved`);
    }
    publish(tmp, d.outPath, d.force, "the result file");
    return sink.written;
  } catch (e) {
    call.cancel();
    if (open) closeSync(fd);
    rmSync(tmp, { force: true });
    if (e instanceof CliError) throw e;
    throw new CliError(friendlyGrpcError(e, "download the result", target), 1, e);
  } finally {
    bar.stop();
  }
}

/** A zip starts with a local file header, or (an empty archive) with the end-of-central-directory record. */
export function isZip(head: Uint8Array): boolean {
  if (head.byteLength < 4 || head[0] !== 0x50 || head[1] !== 0x4b) return false;
  return (head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6);
}

function toHexBytes(b: Uint8Array): string {
  return b.byteLength === 0 ? "<empty>" : Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}
