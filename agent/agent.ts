// Wires the agent together: host channel, logs/events, manifest, computation, gRPC and HTTP servers.
import * as grpc from "@grpc/grpc-js";
import { generateKeyPair } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import type { TlsOptions } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AttestedIdentity } from "../attestation/atls.ts";
import { SimProvider } from "../attestation/providers/sim.ts";
import type { EvidenceProvider } from "../attestation/providers/types.ts";
import { startGuardedFront, type GuardedFront, type GuardEvent } from "../protocol/conn-guard.ts";
import { toHex } from "../protocol/hash.ts";
import { certificateSpki } from "../protocol/keys.ts";
import { audienceOf } from "../protocol/signature.ts";
import { GuestLink, listenGuestChannels, openGuestChannels } from "../protocol/host-channel/links.ts";
import { manifestHash, parseManifest, type Manifest } from "../protocol/manifest.ts";
import { timestampFromDate } from "../protocol/proto.ts";
import type { AlgoType, Runner } from "../runtime/types.ts";
import { checkManifestBinding, chooseProvider } from "./attestation.ts";
import { Computation } from "./computation.ts";
import type { AgentConfig } from "./config.ts";
import { bindServer, createAgentGrpcServer } from "./grpc.ts";
import { hashImplementation } from "./hash-writer.ts";
import { KbsClient } from "./kbs-client.ts";
import { SealedInputs } from "./kbs-inputs.ts";
import { httpApp, serveHttp } from "./http.ts";
import { budgetedSink, Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { UploadKey } from "./upload-key.ts";

export interface AgentOptions {
  config: AgentConfig;
  /** Development: read the manifest from this file instead of the host channel. */
  manifestFile?: string;
  /** Tests: a provider object instead of AGENT_ATTESTATION. */
  provider?: EvidenceProvider | null;
  runnerFor?: (t: AlgoType) => Runner;
  logWrite?: (line: string) => void;
}

const HTTP_IDLE_MAX_MS = 10_000;

// The runtime (Wasm engine, transpiler, the runners) loads with the first algorithm, not at boot:
// evaluating it is a good part of the agent's start-up under TCG (bench/boot.ts).
const runtime = () => import("../runtime/index.ts");
function lazyRunnerFor(type: AlgoType): Runner {
  const real = async () => (await runtime()).runnerFor(type);
  return {
    type,
    unavailable: async () => (await real()).unavailable(),
    // The real runner's one prepare step when it has one; otherwise its run() is all there is.
    prepare: async (path, known) => {
      const r = await real();
      return r.prepare ? r.prepare(path, known) : { run: (spec) => r.run(spec) };
    },
    run: async (spec) => (await real()).run(spec),
  };
}

/** A fresh RSA-2048 key (PKCS#1 PEM) for the aTLS certificate, generated on the I/O pool. */
function atlsKey(): Promise<string> {
  return new Promise((res, rej) =>
    generateKeyPair("rsa", { modulusLength: 2048, privateKeyEncoding: { format: "pem", type: "pkcs1" }, publicKeyEncoding: { format: "pem", type: "spki" } }, (e, _pub, priv) =>
      e ? rej(e) : res(priv),
    ),
  );
}

export class Agent {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly computation: Computation;
  link: GuestLink | null = null;
  provider: EvidenceProvider | null = null;
  grpcPort = 0;
  httpPort = 0;
  private server: grpc.Server | null = null;
  private front: GuardedFront | null = null;
  /** The attested-TLS key (aTLS only): its `spki` is what v2 signatures may bind as the audience. */
  identity: AttestedIdentity | null = null;
  private http: ReturnType<typeof serveHttp> | null = null;
  private computationId = "";
  private atlsKey: Promise<string> | null = null;
  /** New per boot; its private half stays in this process (upload-key.ts). */
  private readonly uploadKey = new UploadKey();

  constructor(private readonly o: AgentOptions) {
    const cfg = o.config;
    this.log = new Logger(cfg.logLevel, o.logWrite);
    this.metrics = new Metrics(() => this.computation.state);
    this.computation = new Computation({
      workDir: cfg.workDir,
      limits: cfg,
      runLimits: cfg.runLimits,
      maxSkewMs: cfg.maxSkewMs,
      log: this.log,
      publish: (t, s) => this.publish(t, s),
      runnerFor: o.runnerFor ?? lazyRunnerFor,
      metrics: this.metrics,
      sources: cfg.sources,
      sealedInputs: new SealedInputs(() => this.kbsClient(), this.log, (status) => this.publish("KeyRelease", status)),
      uploadKey: this.uploadKey,
    });
  }

  /** Key-broker client over this agent's evidence (null without a provider). */
  private kbsClient(): KbsClient | null {
    const p = this.provider;
    if (!p) return null;
    return new KbsClient({
      provider: p,
      onRetry: (r) => {
        this.log.warn("KBS unreachable, retrying", { kbs: r.url, attempt: r.attempt, of: r.of, error: r.error });
        this.publish("KeyRelease", "Retrying");
      },
    });
  }

  private publish(eventType: string, status: string): void {
    this.log.info("event", { event_type: eventType, status });
    this.link
      ?.sendEvent({ event_type: eventType, status, timestamp: timestampFromDate(), computation_id: this.computationId, details: new Uint8Array(), originator: "agent" })
      .catch(() => {});
  }

  private openLink(): GuestLink | null {
    const c = this.o.config;
    const chlog = (_l: string, msg: string) => process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: "WARN", msg }) + "\n");
    switch (c.hostChannel) {
      case "none":
        return null;
      case "unix":
        return new GuestLink(listenGuestChannels(c.manifestSocket!, c.eventsSocket!, { log: chlog }), (m) => chlog("warn", m));
      case "virtio-serial":
        return new GuestLink(openGuestChannels(c.hostChannelArg ? `virtio-serial:${c.hostChannelArg}` : "virtio-serial", { log: chlog }), (m) => chlog("warn", m));
      case "vsock":
        return new GuestLink(openGuestChannels(c.hostChannelArg ? `vsock:${c.hostChannelArg}` : "vsock", { log: chlog }), (m) => chlog("warn", m));
    }
  }

  /** Boots: opens the host channel, waits for the manifest, then serves. Resolves when ready. */
  async start(): Promise<void> {
    const cfg = this.o.config;
    this.link = this.openLink();
    if (this.link) {
      const link = this.link;
      // Logs travel as AgentLog pieces of ≤ 500 characters, like Cocos's protohandler, rate-limited.
      this.log.addSink(
        budgetedSink((level, piece) => {
          link.sendLog({ message: piece, computation_id: this.computationId, level: level.toUpperCase(), timestamp: timestampFromDate() }).catch(() => {});
        }),
      );
    }
    if (cfg.httpPort !== undefined) this.startHttp(cfg.httpPort);
    await this.computation.start();
    // The attested-TLS key (RSA-2048: seconds under TCG) is made on the I/O pool while the manifest
    // is on its way, not after it; an agent without aTLS discards it.
    if (!this.o.manifestFile) (this.atlsKey = atlsKey()).catch(() => {}); // awaited only with aTLS
    this.log.info("waiting for the computation manifest", { source: this.o.manifestFile ?? cfg.hostChannel });
    const json = this.o.manifestFile ? readFileSync(this.o.manifestFile, "utf8") : this.link ? await this.link.manifest() : null;
    if (json === null) throw new Error("no manifest source: pass --manifest FILE or set AGENT_HOST_CHANNEL");
    const manifest = parseManifest(json);
    if (cfg.computationId && manifest.id !== cfg.computationId) {
      throw new Error(`manifest refused: expected computation id ${JSON.stringify(cfg.computationId)}, received ${JSON.stringify(manifest.id)}`);
    }
    this.computationId = manifest.id;
    const hash = manifestHash(manifest);
    this.provider =
      this.o.provider !== undefined
        ? this.o.provider
        : chooseProvider({ mode: cfg.attestation, vmpl: cfg.vmpl, manifestHash: hash, simStateDir: cfg.simStateDir, simMeasurement: cfg.simMeasurement, link: this.link });
    if (this.provider instanceof SimProvider) {
      this.log.warn("attestation is SIMULATED (no TEE): pin this root in the verifier's policy", { sim_ark_sha256: this.provider.root.arkSha256 });
    }
    if (this.provider) {
      const binding = await checkManifestBinding(this.provider, hash, manifest.id);
      if (binding === "unbound") this.log.warn("launch evidence does not bind a manifest (HOST_DATA is zero)", { manifest_sha3_256: toHex(hash) });
      else this.log.info("manifest binding", { result: binding, kind: this.provider.kind });
    } else this.log.warn("no attestation evidence provider: the Attestation RPC will refuse requests");
    this.computation.setManifest(manifest);
    await this.serve(manifest);
  }

  private startHttp(port: number): void {
    const cfg = this.o.config;
    this.http = serveHttp(
      httpApp(this.metrics, { state: () => this.computation.state, computationId: () => this.computationId }),
      cfg.httpHost,
      port,
      // /health and /metrics answer at once: no reason to hold a quiet connection for long.
      Math.min(cfg.guard.idleTimeoutMs, HTTP_IDLE_MAX_MS),
    );
    this.httpPort = this.http.port ?? 0;
    this.log.info("http listening", { host: cfg.httpHost, port: this.httpPort });
  }

  /** TLS (or mTLS, with a client CA) terminated by the guarded front; undefined = plaintext h2c. */
  private tlsOptions(m: Manifest): TlsOptions | undefined {
    const a = m.agent_config;
    if (!a.cert_file || !a.key_file) return undefined;
    const pem = (v: string) => Buffer.from(v.includes("\n") || v.length >= 1000 || !existsSync(v) ? v : readFileSync(v, "utf8"));
    const ca = a.client_ca_file ? pem(a.client_ca_file) : undefined;
    const cert = pem(a.cert_file);
    // v2 signatures name the key this agent's TLS certificate carries (the first of the chain).
    this.computation.audience = audienceOf(certificateSpki(cert.toString()));
    return { cert, key: pem(a.key_file), ...(ca ? { ca, requestCert: true, rejectUnauthorized: true } : {}) };
  }

  private async serve(m: Manifest): Promise<void> {
    const cfg = this.o.config;
    const host = cfg.grpcHost ?? (m.agent_config.host || "0.0.0.0");
    const port = cfg.grpcPort ?? (m.agent_config.port ? Number(m.agent_config.port) : 7002);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`agent port must be 0..65535, got ${JSON.stringify(m.agent_config.port)}`);
    this.server = createAgentGrpcServer({ computation: this.computation, attestation: { provider: () => this.provider }, log: this.log, metrics: this.metrics, uploadKey: this.uploadKey });
    // gRPC listens on a private Unix socket; the only network entry is a guarded front (handshake
    // and idle timeouts, per-client cap) that terminates TLS or attested TLS, or pipes h2c.
    let sock = join(cfg.workDir, ".agent-grpc.sock");
    if (Buffer.byteLength(sock) > 100) sock = join(tmpdir(), `cocos-agent-${process.pid}-${m.id.replace(/[^\w.-]/g, "_").slice(0, 32)}.sock`); // sun_path is 108 bytes
    rmSync(sock, { force: true });
    await bindServer(this.server, `unix:${sock}`, grpc.ServerCredentials.createInsecure());
    const guard = { limits: cfg.guard, onClose: this.guardLog() };
    if (m.agent_config.attested_tls) {
      if (!this.provider) throw new Error("attested TLS requested by the manifest, but this agent has no evidence provider");
      // Loaded only here: attested TLS pulls in node-forge and the SNP/TDX verifiers, which would
      // otherwise add to every agent's start-up.
      const [{ AttestedIdentity, startAtlsFront }, keyPem] = await Promise.all([import("../attestation/atls.ts"), this.atlsKey ?? atlsKey()]);
      this.identity = new AttestedIdentity(this.provider, { keyPem });
      this.computation.audience = audienceOf(this.identity.spki); // v2 signatures name this attested key
      this.front = await startAtlsFront(this.identity, sock, { host, port }, guard);
    } else {
      this.front = await startGuardedFront({ backend: sock, listen: { host, port }, tls: this.tlsOptions(m), ...guard });
    }
    this.grpcPort = this.front.port;
    this.log.info("agent ready", {
      grpc_host: host,
      grpc_port: this.grpcPort,
      tls: m.agent_config.attested_tls ? "aTLS" : m.agent_config.cert_file ? (m.agent_config.client_ca_file ? "mTLS" : "TLS") : "none",
      computation_id: m.id,
      state: this.computation.state,
    });
    // Starts the upload hashing worker now, off the first upload's path, and says which SHA3 it uses.
    void hashImplementation().then((impl) => this.log.info("upload hashing", { sha3: impl }));
  }

  /** One warning per guard event and 10 s window, with how many were folded in (a flood is not a log flood). */
  private guardLog(): (event: GuardEvent, client: string) => void {
    const windows = new Map<GuardEvent, { until: number; folded: number }>();
    return (event, client) => {
      const now = Date.now();
      const w = windows.get(event);
      if (w && now < w.until) return void w.folded++;
      this.log.warn("connection closed by the guard", { event, client, ...(w?.folded ? { similar_since_last: w.folded } : {}) });
      windows.set(event, { until: now + 10_000, folded: 0 });
    };
  }

  async stop(): Promise<void> {
    this.computation.stop();
    await this.front?.close();
    if (this.server) {
      const s = this.server;
      await new Promise<void>((r) => s.tryShutdown(() => r()));
      s.forceShutdown();
    }
    this.http?.stop(true);
    await this.link?.close();
  }
}
