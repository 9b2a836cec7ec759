// The computation: manifest, state machine, input acceptance, the run, results. Transport-free: it
// opens an input session (input-session.ts) per upload or remote fetch, the gRPC layer (grpc.ts)
// feeds the session messages and maps AgentError codes to statuses.
import type { KeyObject } from "node:crypto";
import { chmod, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { equalBytes, toHex } from "../protocol/hash.ts";
import { loadPublicKey } from "../protocol/keys.ts";
import { checkFilename, manifestHash, type Manifest } from "../protocol/manifest.ts";
import { claimedUserKey, mdValues, NonceWindow, verifyRequest, type MetadataLike, type Role } from "../protocol/signature.ts";
import { unzipFile, zipDirectory, ZipError } from "../protocol/zip.ts";
import { resolveInterpreter } from "../runtime/runners/python.ts";
import { ALGO_TYPES, AlgorithmError, DEFAULT_LIMITS, type AlgoType, type PreparedAlgorithm, type RunLimits, type Runner, type RunOutcome } from "../runtime/types.ts";
import { AgentError, failedPrecondition, invalidArgument, permissionDenied, unauthenticated } from "./errors.ts";
import { GUEST_OUTPUT_DIR, GuestOutput } from "./guest-output.ts";
import { sealResults } from "./seal.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { DEFAULT_SOURCE_OPTIONS, fetchRemoteInputs, type SourceOptions } from "./sources/remote.ts";
import { StateMachine, type AgentState } from "./state.ts";
import { AlgorithmSession, DatasetSession, InputFile, type DatasetRules, type TransformFactory } from "./input-session.ts";
import type { SealedInputs, SealedResource } from "./kbs-inputs.ts";
import { sealedDecryption, type SealedTarget, type UploadKey } from "./upload-key.ts";

/** An upload's caller and metadata, for the upload key's decryption. */
type SealedUpload = Omit<SealedTarget, "manifest">;

export const METHOD_ALGO = "/agent.AgentService/Algo";
export const METHOD_DATA = "/agent.AgentService/Data";
export const METHOD_RESULT = "/agent.AgentService/Result";

export interface UploadLimits {
  maxAlgorithmBytes: number;
  maxRequirementsBytes: number;
  maxDatasetBytes: number;
  maxUnzipBytes: number;
  /** Per entry of a decompressed dataset; default maxUnzipBytes. */
  maxUnzipEntryBytes?: number;
  maxUnzipEntries: number;
}

export interface ComputationOptions {
  workDir: string;
  limits: UploadLimits;
  runLimits: Partial<RunLimits>;
  maxSkewMs: number;
  log: Logger;
  /** Publishes an AgentEvent (event_type, status); originator/computation id are added by the caller. */
  publish: (eventType: string, status: string) => void;
  runnerFor: (type: AlgoType) => Runner;
  metrics?: Metrics;
  /**
   * Max AlgorithmRun/Warning events per run. Cocos sends one per stderr line; here the default is one
   * per run ("the algorithm wrote to stderr"), as their count is something the algorithm controls.
   */
  maxWarningEvents?: number;
  /** Keys of inputs the manifest declares encrypted (KBS); without it such uploads are refused. */
  sealedInputs?: SealedInputs;
  /** The agent's upload key: opens inputs sealed to it (the console's browser uploads). */
  uploadKey?: UploadKey;
  /** Remote sources (manifest `source.url`): timeouts and retries. */
  sources?: Partial<SourceOptions>;
}

export interface Caller {
  keyDer: Uint8Array;
  index: number;
  version: 1 | 2;
}

export interface AlgoPlan {
  caller: Caller;
  algoType: AlgoType;
  args: string[];
  pythonRuntime: string;
}

interface DatasetSlot {
  index: number;
  received: boolean;
  storedAs?: string[];
}

const MAX_WARNINGS = 1;

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/**
 * `algo_args` as Cocos sends it: one text metadata value per argument, kept apart by the gRPC server
 * (agent/grpc.ts reads the raw HTTP/2 header list), so an argument containing ", " stays whole.
 * `algo_args-bin` (what our CLI also sends) is preferred when present.
 */
export function algoArgs(md: MetadataLike): string[] {
  const bin = mdValues(md, "algo_args-bin");
  if (bin.length > 0) return bin;
  return mdValues(md, "algo_args");
}

/** The `python_runtime` an Algo request names must be an interpreter this agent has, checked before upload. */
async function checkPythonRuntime(name: string): Promise<void> {
  try {
    await resolveInterpreter(name);
  } catch (err) {
    throw invalidArgument(`python_runtime refused: ${(err as Error).message}`);
  }
}

/** What the host and the consumer hear about a failed run: fixed text, no guest or runtime message. */
export function runFailureSummary(outcome: RunOutcome): string {
  switch (outcome.kind) {
    case "exit":
      return `algorithm execution error: exit status ${outcome.code}`;
    case "limit":
      return `algorithm execution error: ${outcome.limit} limit reached`;
    case "trap":
      return "algorithm execution error: the algorithm trapped";
    case "aborted":
      return "algorithm execution error: the run was aborted";
    case "error":
      return "algorithm execution error: the runtime could not run the algorithm";
  }
}

export class Computation {
  readonly sm: StateMachine;
  readonly nonces = new NonceWindow();
  manifest: Manifest | null = null;
  /** v2 signatures must name this agent: audienceOf(its TLS SPKI), "" while it serves without TLS. */
  audience = "";
  private keyCache = new Map<string, KeyObject>();
  private slots: DatasetSlot[] = [];
  private algo: { plan: AlgoPlan; path: string; requirementsPath?: string; prepared?: PreparedAlgorithm } | null = null;
  private algoClaimed = false;
  private resultsZip: string | null = null;
  private runError: string | null = null;
  private runAbort = new AbortController();
  private runDone: Promise<void> = Promise.resolve();
  readonly datasetsDir: string;
  readonly resultsDir: string;
  readonly incomingDir: string;

  constructor(private readonly o: ComputationOptions) {
    this.sm = new StateMachine(() => this.manifest?.datasets.length ?? 0);
    this.datasetsDir = join(o.workDir, "datasets");
    this.resultsDir = join(o.workDir, "results");
    this.incomingDir = join(o.workDir, ".incoming");
    this.sm.onTransition((to) => this.entered(to));
  }

  get state(): AgentState {
    return this.sm.state;
  }

  get limits(): UploadLimits {
    return this.o.limits;
  }

  /** Idle → ReceivingManifest (Cocos sends Start automatically at agent start). */
  async start(): Promise<void> {
    await mkdir(this.incomingDir, { recursive: true });
    // Leftovers of an earlier process (a crash mid-upload) are never trusted.
    await rm(this.incomingDir, { recursive: true, force: true });
    await mkdir(this.incomingDir, { recursive: true, mode: 0o700 });
    this.o.publish("Idle", "IdleState");
    this.sm.send("Start");
  }

  setManifest(m: Manifest): void {
    if (this.state !== "ReceivingManifest") throw failedPrecondition(`manifest already received (state ${this.state})`);
    this.manifest = m;
    this.slots = m.datasets.map((_, index) => ({ index, received: false }));
    this.o.log.info("manifest received", { computation_id: m.id, manifest_sha3_256: toHex(manifestHash(m)), datasets: m.datasets.length, consumers: m.result_consumers.length });
    this.sm.send("ManifestReceived");
  }

  private entered(to: AgentState): void {
    switch (to) {
      case "ReceivingManifest":
      case "ReceivingAlgorithm":
      case "ReceivingData":
        this.o.publish(to, "InProgress");
        if (to !== "ReceivingManifest") {
          void fetchRemoteInputs(this, to === "ReceivingAlgorithm" ? "algorithm" : "datasets", { ...DEFAULT_SOURCE_OPTIONS, ...this.o.sources }, this.o.log, () => this.o.publish(to, "Warning"));
        }
        break;
      case "Running":
        this.runDone = this.run();
        break;
      case "ConsumingResults":
        this.o.publish(to, "Ready");
        break;
      case "Complete":
        this.o.publish(to, "Completed");
        break;
      case "Failed":
        this.o.publish(to, "Failed");
        break;
    }
  }

  private key(der: Uint8Array): KeyObject {
    const k = Buffer.from(der).toString("base64");
    let key = this.keyCache.get(k);
    if (!key) {
      key = loadPublicKey(der);
      this.keyCache.set(k, key);
    }
    return key;
  }

  private roleKeys(role: Role): Uint8Array[] {
    const m = this.manifest!;
    if (role === "algorithm-provider") return [m.algorithm.user_key];
    if (role === "data-provider") return m.datasets.map((d) => d.user_key);
    return m.result_consumers.map((c) => c.user_key);
  }

  /**
   * Authentication comes first on every call. A signature that verifies with a key the manifest holds
   * for another role (or with the caller's own `user-key`) is PERMISSION_DENIED; anything else that
   * does not verify is UNAUTHENTICATED.
   */
  authenticate(role: Role, method: string, md: MetadataLike): Caller {
    const m = this.manifest;
    if (!m) throw unauthenticated("no computation manifest yet: no party can be authenticated");
    const keys = this.roleKeys(role);
    const opts = { role, method, computationId: m.id, audience: this.audience, nonces: this.nonces, maxSkewMs: this.o.maxSkewMs, requireV2: m.signatures === "v2-only" };
    const r = verifyRequest(md, keys.map((k) => this.key(k)), opts);
    if (r.ok) return { keyDer: keys[r.index]!, index: r.index, version: r.version };
    if (!r.reason.startsWith("signature verification failed")) throw unauthenticated(r.reason);
    const others: Uint8Array[] = [m.algorithm.user_key, ...m.datasets.map((d) => d.user_key), ...m.result_consumers.map((c) => c.user_key)];
    const claimed = claimedUserKey(md);
    if (claimed) others.push(claimed);
    const other = verifyRequest(md, others.map((k) => this.key(k)), opts);
    if (other.ok) {
      const what = role === "consumer" ? "result consumer is undeclared in computation manifest" : `this key is not a declared ${role} in the computation manifest`;
      throw permissionDenied(`${what} (the signature is valid, but the key is not listed for role ${role})`);
    }
    throw unauthenticated(r.reason);
  }

  private checkAlgorithmExpected(): void {
    if (this.algo || this.algoClaimed) throw invalidArgument("algorithm already received: the manifest declares exactly one algorithm");
    if (this.state !== "ReceivingAlgorithm") throw failedPrecondition(`agent not expecting an algorithm in the current state: expected ReceivingAlgorithm, state is ${this.state}`);
  }

  /** Checks run before any byte of an algorithm is read. */
  private async planAlgo(caller: Caller, md: MetadataLike): Promise<AlgoPlan> {
    this.checkAlgorithmExpected();
    const t = (mdValues(md, "algo_type")[0] ?? "").trim() || "bin";
    if (!ALGO_TYPES.includes(t as AlgoType)) throw invalidArgument(`unknown algo_type ${JSON.stringify(t)}: expected one of ${ALGO_TYPES.join(", ")}`);
    // A manifest that names the type (Cocos v0.9+) is what every party agreed on: the upload may not pick another runner.
    const agreed = this.manifest!.algorithm.algo_type;
    if (agreed && t !== agreed) throw invalidArgument(`algo_type ${JSON.stringify(t)} does not match the manifest's algorithm.algo_type ${JSON.stringify(agreed)}`);
    const plan: AlgoPlan = { caller, algoType: t as AlgoType, args: algoArgs(md), pythonRuntime: (mdValues(md, "python_runtime")[0] ?? "").trim() || "python3" };
    // Whether it can run here at all is known before the upload: refuse before reading a byte.
    const why = await this.o.runnerFor(plan.algoType).unavailable();
    if (why) throw failedPrecondition(`algorithm type ${plan.algoType} cannot run on this agent: ${why}`);
    if (plan.algoType === "python") await checkPythonRuntime(plan.pythonRuntime);
    return plan;
  }

  /**
   * The one place an input's transform is chosen: the upload key's decryption for an upload that
   * carries a sealed key, the KBS key's for a resource the manifest declares encrypted, none for
   * plaintext. Every source (upload, remote fetch) goes through here; `upload` is the upload's
   * caller and metadata (absent for a remote fetch).
   */
  private transformFor(r: SealedResource, what: string, upload?: SealedUpload): TransformFactory {
    return async (into) => {
      const sealed = upload && (await sealedDecryption(this.o.uploadKey, { ...upload, manifest: this.manifest! }, into));
      if (sealed) return sealed;
      if (!r.source?.encrypted) return null;
      if (!this.o.sealedInputs) throw failedPrecondition(`${what} is declared encrypted, but this agent has no key broker client`);
      return this.o.sealedInputs.decryption(r, what, into);
    };
  }

  private inputFile(maxBytes: number, what: string, r: SealedResource, upload?: SealedUpload): InputFile {
    return new InputFile(this.incomingDir, maxBytes, what, this.transformFor(r, what, upload));
  }

  /** An Algo upload: authentication, role, state and the plan are checked before any byte is read. */
  async algorithmInput(md: MetadataLike): Promise<AlgorithmSession> {
    const caller = this.authenticate("algorithm-provider", METHOD_ALGO, md);
    const plan = await this.planAlgo(caller, md);
    return this.algorithmSession(async () => plan, { md, caller, role: "algorithm-provider", name: "algorithm" });
  }

  /**
   * The algorithm a manifest source names, run with the manifest's algo_type and algo_args (Cocos
   * v0.9+); without a type, a WebAssembly module runs as one, anything else as a binary.
   */
  remoteAlgorithmInput(): AlgorithmSession {
    this.checkAlgorithmExpected();
    const a = this.manifest!.algorithm;
    const caller: Caller = { keyDer: a.user_key, index: 0, version: 2 };
    const sniff = (head: Uint8Array) => (WASM_MAGIC.every((b, i) => head[i] === b) ? "wasm" : "bin");
    return this.algorithmSession((head) => this.planAlgo(caller, { algo_type: [a.algo_type || sniff(head)], algo_args: a.algo_args ?? [] }));
  }

  private algorithmSession(plan: (head: Uint8Array) => Promise<AlgoPlan>, upload?: SealedUpload): AlgorithmSession {
    const l = this.o.limits;
    const algo = this.inputFile(l.maxAlgorithmBytes, "algorithm", this.manifest!.algorithm, upload);
    const requirements = new InputFile(this.incomingDir, l.maxRequirementsBytes, "requirements");
    return new AlgorithmSession(algo, requirements, async (file, hash, reqs) => this.acceptAlgorithm(await plan(file.head), file, hash, reqs));
  }

  /** A Data upload: authentication, role and state are checked before any byte is read. */
  async datasetInput(md: MetadataLike): Promise<DatasetSession> {
    const caller = this.authenticate("data-provider", METHOD_DATA, md);
    this.checkDataState();
    const decompress = (mdValues(md, "decompress")[0] ?? "false").toLowerCase() === "true";
    return new DatasetSession(this.datasetRules(caller, decompress, md));
  }

  /** The dataset a manifest source names for entry `index`: it must be that entry's bytes, not any pending one's. */
  remoteDatasetInput(index: number): DatasetSession {
    this.checkDataState();
    const d = this.manifest!.datasets[index]!;
    // The manifest's decompress (Cocos v0.9+) stands in for the upload's metadata.
    const rules = this.datasetRules({ keyDer: d.user_key, index, version: 2 }, d.decompress === true);
    const accept: DatasetRules["accept"] = (filename, file, hash) => {
      if (!equalBytes(hash, d.hash)) throw invalidArgument(`hash does not match manifest datasets[${index}]: expected SHA3-256 ${toHex(d.hash)}, received ${toHex(hash)} (${file.size} bytes)`);
      return rules.accept(filename, file, hash);
    };
    return new DatasetSession({ ...rules, accept }, d.filename);
  }

  /** `md`: the upload's metadata (absent for a remote fetch). */
  private datasetRules(caller: Caller, decompress: boolean, md?: MetadataLike): DatasetRules {
    return {
      checkFilename: (name) => this.checkDataFilename(name),
      // An encrypted dataset is found by the filename its manifest entry declares.
      fileFor: (filename) => {
        const entry = this.slots.filter((s) => !s.received).map((s) => this.manifest!.datasets[s.index]!).find((d) => d.filename !== "" && d.filename === filename);
        const upload: SealedUpload | undefined = md && { md, caller, role: "data-provider", name: filename };
        return this.inputFile(this.o.limits.maxDatasetBytes, entry ? `dataset ${filename}` : "dataset", entry ?? {}, upload);
      },
      accept: (filename, file, hash) => this.acceptDataset(caller, filename, file, hash, decompress),
    };
  }

  /** Final checks, then the algorithm moves into place and the state advances. */
  private async acceptAlgorithm(plan: AlgoPlan, algo: InputFile, hash: Uint8Array, requirements: InputFile | null): Promise<void> {
    const m = this.manifest!;
    this.checkAlgorithmExpected();
    if (!equalBytes(hash, m.algorithm.hash)) {
      throw invalidArgument(`malformed data, hash does not match manifest: expected SHA3-256 ${toHex(m.algorithm.hash)}, received ${toHex(hash)} (${algo.size} bytes)`);
    }
    this.algoClaimed = true;
    try {
      // The runner's one prepare step (wasm: read, hash and transpile once); its run() needs nothing more.
      const runner = this.o.runnerFor(plan.algoType);
      let prepared: PreparedAlgorithm | undefined;
      if (runner.prepare) {
        try {
          prepared = await runner.prepare(algo.path, { sha3: toHex(hash) });
        } catch (err) {
          if (err instanceof AlgorithmError) {
            throw invalidArgument(`the algorithm is not a usable WebAssembly program: ${err.message}`, "the algorithm is not a usable WebAssembly program");
          }
          throw err;
        }
      }
      const path = join(this.o.workDir, "algo");
      await rename(algo.path, path);
      await chmod(path, 0o700);
      let requirementsPath: string | undefined;
      if (requirements && requirements.size > 0) {
        requirementsPath = join(this.o.workDir, "requirements.txt");
        await rename(requirements.path, requirementsPath);
      }
      await mkdir(this.datasetsDir, { recursive: true });
      this.algo = { plan, path, requirementsPath, prepared };
    } catch (err) {
      this.algoClaimed = false;
      throw err;
    }
    this.o.log.info("algorithm accepted", { algo_type: plan.algoType, bytes: algo.size, args: plan.args.length });
    this.sm.send("AlgorithmReceived");
  }

  /** Checks run before any byte of a dataset is read. */
  private checkDataState(): void {
    if (this.state !== "ReceivingData") {
      const why = this.state === "ReceivingAlgorithm" ? "the algorithm must be uploaded first" : "all expected manifest items have been received";
      throw failedPrecondition(`agent not expecting a dataset in the current state (${this.state}): ${why}`);
    }
  }

  private checkDataFilename(name: string): void {
    const bad = checkFilename(name);
    if (bad) throw invalidArgument(`dataset filename refused: ${bad}`);
  }

  /**
   * Names no other dataset may take, each with why: the filenames the manifest declares for other
   * datasets and the names other uploads already produced (an archive's entries included).
   */
  private namesOfOthers(mine: DatasetSlot): Map<string, string> {
    const taken = new Map<string, string>();
    for (const s of this.slots) {
      if (s === mine) continue;
      const declared = this.manifest!.datasets[s.index]!.filename;
      if (declared) taken.set(declared, "is declared in the manifest for another dataset");
      for (const n of s.storedAs ?? []) taken.set(n.split("/")[0]!, "was already produced by another dataset");
    }
    return taken;
  }

  private async acceptDataset(caller: Caller, filename: string, upload: InputFile, hash: Uint8Array, decompress: boolean): Promise<void> {
    const m = this.manifest!;
    this.checkDataState();
    this.checkDataFilename(filename);
    const sameHash = this.slots.filter((s) => equalBytes(m.datasets[s.index]!.hash, hash));
    const pending = sameHash.filter((s) => !s.received);
    if (pending.length === 0) {
      if (sameHash.length > 0) throw invalidArgument(`dataset already received: SHA3-256 ${toHex(hash)} was uploaded before`);
      throw invalidArgument(`dataset not declared in computation manifest: SHA3-256 ${toHex(hash)} matches none of the ${this.slots.filter((s) => !s.received).length} pending datasets`);
    }
    const named = pending.filter((s) => {
      const f = m.datasets[s.index]!.filename;
      return f === "" || f === filename;
    });
    if (named.length === 0) {
      const expected = pending.map((s) => m.datasets[s.index]!.filename).join(" or ");
      throw invalidArgument(`malformed data, filename does not match manifest: expected ${expected}, received ${JSON.stringify(filename)}`);
    }
    const mine = named.find((s) => equalBytes(m.datasets[s.index]!.user_key, caller.keyDer));
    if (!mine) throw permissionDenied("this dataset is declared for another data provider's key");
    mine.received = true; // claimed before any await: a concurrent duplicate upload cannot take it too
    try {
      const name = m.datasets[mine.index]!.filename || filename;
      const reserved = this.namesOfOthers(mine);
      if (decompress) {
        const l = this.o.limits;
        try {
          mine.storedAs = await unzipFile(upload.path, this.datasetsDir, { maxBytes: l.maxUnzipBytes, maxEntryBytes: l.maxUnzipEntryBytes, maxEntries: l.maxUnzipEntries, reserved });
        } catch (err) {
          // Entry names are dataset content: the uploader hears them, the host log does not.
          if (err instanceof ZipError) throw invalidArgument(`dataset ${name} could not be decompressed: ${err.message}`, `dataset ${name} could not be decompressed: archive refused`);
          throw err;
        }
        await rm(upload.path, { force: true });
      } else {
        const owner = reserved.get(name);
        if (owner !== undefined) throw invalidArgument(`dataset filename ${JSON.stringify(name)} refused: it ${owner}`);
        const target = join(this.datasetsDir, name);
        if (await stat(target).then(() => true, () => false)) throw invalidArgument(`a dataset named ${JSON.stringify(name)} is already stored`);
        await rename(upload.path, target);
        mine.storedAs = [name];
      }
    } catch (err) {
      mine.received = false;
      throw err;
    }
    this.o.log.info("dataset accepted", { filename, bytes: upload.size, decompressed: decompress, remaining: this.slots.filter((s) => !s.received).length });
    // Two acceptances (an upload and a fetch, or two uploads) can finish together: one sends the event.
    if (this.slots.every((s) => s.received) && this.state === "ReceivingData") this.sm.send("DataReceived");
  }

  private async run(): Promise<void> {
    const m = this.manifest!;
    const algo = this.algo!;
    const started = performance.now();
    this.o.publish("Running", "Starting");
    const mode = m.guest_output ?? "keep";
    const kept = new GuestOutput(join(this.o.workDir, "guest-output"), this.o.runLimits.maxStdioBytes ?? DEFAULT_LIMITS.maxStdioBytes);
    let error: string | null = null;
    let warnings = 0;
    const maxWarnings = this.o.maxWarningEvents ?? MAX_WARNINGS;
    try {
      await rm(this.resultsDir, { recursive: true, force: true });
      await mkdir(this.resultsDir, { recursive: true });
      await mkdir(this.datasetsDir, { recursive: true });
      this.o.publish("Running", "InProgress");
      const outcome = await (algo.prepared ?? this.o.runnerFor(algo.plan.algoType)).run({
        algoType: algo.plan.algoType,
        algorithmPath: algo.path,
        args: algo.plan.args,
        datasetsDir: this.datasetsDir,
        resultsDir: this.resultsDir,
        workDir: this.o.workDir,
        limits: this.o.runLimits,
        datasets: m.datasets.map((d, i) => ({ name: this.slots[i]?.storedAs?.[0] ?? d.filename, hash: toHex(d.hash) })),
        requirementsPath: algo.requirementsPath,
        pythonRuntime: algo.plan.pythonRuntime,
        signal: this.runAbort.signal,
        onLog: (stream, line) => {
          kept.line(stream, line);
          // Opt-in only: this sends whatever the algorithm prints to the host.
          if (mode === "forward") this.o.log.log(stream === "stdout" ? "info" : "error", line, { stream, guest: true });
          if (stream === "stderr" && warnings++ < maxWarnings) this.o.publish("AlgorithmRun", "Warning");
        },
      });
      if (outcome.kind !== "exit" || outcome.code !== 0) {
        error = runFailureSummary(outcome);
        if (outcome.kind !== "exit") kept.note(`run ended (${outcome.kind}): ${outcome.message}`);
      }
      const zip = await zipDirectory(this.resultsDir, {
        skipHardLinks: true,
        onSkipped: (name, kind) => kept.note(`results entry ${JSON.stringify(name)} left out of the archive: ${kind}`),
        appendix: mode === "results" ? { dir: GUEST_OUTPUT_DIR, files: () => kept.contents() } : undefined,
      });
      const zipPath = join(this.o.workDir, "results.zip");
      await writeFile(zipPath, m.seal_results ? await sealResults(zip, m.result_consumers) : zip, { mode: 0o600 });
      this.resultsZip = zipPath;
    } catch (err) {
      // May quote a results file name the algorithm chose: the detail stays with the kept output.
      kept.note(`run failed in the agent: ${(err as Error).message}`);
      error = "algorithm execution error: the agent could not finish the run";
    } finally {
      kept.close();
      await rm(this.resultsDir, { recursive: true, force: true }).catch(() => {});
      await rm(this.datasetsDir, { recursive: true, force: true }).catch(() => {});
    }
    const seconds = (performance.now() - started) / 1000;
    this.o.metrics?.run(error ? "failed" : "ok", seconds);
    if (error) {
      this.runError = error;
      this.o.log.error("computation run failed", { error, seconds });
      this.o.publish("Running", "Failed");
      this.sm.send("RunFailed");
    } else {
      this.o.log.info("computation run completed", { seconds });
      this.o.publish("Running", "Completed");
      this.sm.send("RunComplete");
    }
  }

  /** Resolves when the current run (if any) has finished. */
  whenRunDone(): Promise<void> {
    return this.runDone;
  }

  /** The results zip for a consumer; the first successful download completes the computation. */
  async results(): Promise<{ path: string; size: number }> {
    const s = this.state;
    if (s === "Failed") throw failedPrecondition(`the computation failed, no results: ${this.runError ?? "unknown error"}`);
    if (s !== "ConsumingResults" && s !== "Complete") throw failedPrecondition(`computation results are not yet ready (state ${s})`);
    const path = this.resultsZip!;
    return { path, size: (await stat(path)).size };
  }

  resultsDelivered(): void {
    if (this.state === "ConsumingResults") this.sm.send("ResultsConsumed");
  }

  /** Aborts a running algorithm (agent shutdown). */
  stop(): void {
    this.runAbort.abort();
  }

  isAgentError(e: unknown): e is AgentError {
    return e instanceof AgentError;
  }
}
