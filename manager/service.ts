// The manager: turns computations-server requests into VMs through a backend, relays the agent's
// events and logs, adds its own (VmProvision, StopComputationRun, Stopped), and keeps every VM's
// state on disk so a restarted manager re-adopts what is still running.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ComputationRunReqType, decodeMessage, timestampFromDate } from "../protocol/proto.ts";
import { manifestFromRunReq, manifestToJSON, type RunReqObject } from "../protocol/manifest.ts";
import { sha3_256, toHex } from "../protocol/hash.ts";
import type { VmBackend, VmInfo } from "./backend.ts";
import { openVmChannels, type EventsLogsMsg, type VmChannels } from "./channels.ts";
import type { ManagerConfig } from "./config.ts";
import { parseLogLevel, type Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { attributeEvent, attributeLog, guestText } from "./guest-records.ts";
import { checkComputationId } from "./computation-id.ts";
import { RunReqAssembler, RunReqRefused } from "./run-req.ts";
import { TokenBucket } from "./rate-limit.ts";
import { MAX_FRAME } from "../protocol/host-channel/frame.ts";
import { manifestMessage } from "../protocol/host-channel/links.ts";
import { SimSecureProcessor, launchMeasurement } from "./sim-attestation.ts";
import { formatPolicy, parsePolicy, setHostData, setMeasurement, trustSimRoot, type AttestationPolicy } from "../attestation/policy.ts";
import type { ClientStreamMessage, ServerStreamMessage } from "./server-link.ts";
import type { StateStore } from "./state.ts";

/** Where manager messages go (the ServerLink in production, an array in tests). */
export interface Outbox {
  send(msg: ClientStreamMessage): void;
}

interface Vm {
  info: VmInfo;
  channels: VmChannels;
  state: "VmProvision" | "VmRunning" | "StopComputationRun";
  /** Rejects when the VM exits, so a pending manifest delivery does not wait for its full retry budget. */
  died: Promise<never>;
  die: (e: Error) => void;
  /** Events channel seen connected at the last watch tick. */
  linked: boolean;
  /** Sim report requests this guest may still make; `throttled` once it was told it made too many. */
  reports: TokenBucket;
  throttled: boolean;
}

export class Manager {
  private vms = new Map<string, Vm>(); // by computation id
  private starting = new Set<string>();
  private sim?: SimSecureProcessor;
  readonly assembler: RunReqAssembler;
  readonly metrics = new Metrics();
  private watch: ReturnType<typeof setInterval>;
  private collect?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly cfg: ManagerConfig,
    readonly backend: VmBackend,
    private readonly store: StateStore,
    private readonly out: Outbox,
    private readonly log: Logger,
  ) {
    this.assembler = new RunReqAssembler({
      idleMs: cfg.runReqTimeoutMs,
      maxBytes: cfg.runReqMaxBytes,
      maxTotalBytes: cfg.runReqMaxTotalBytes,
      maxPending: cfg.runReqMaxPending,
      onExpire: (id, n) => this.log.warn("discarded an incomplete run request after the idle timeout", { computation_id: id, received_bytes: n, timeout_ms: cfg.runReqTimeoutMs }),
    });
    backend.onExit((e) => {
      const vm = this.vms.get(e.info.computationId);
      if (!vm || vm.info.id !== e.info.id) return;
      this.vms.delete(e.info.computationId);
      this.collectSoon();
      this.store.remove(e.info.id);
      vm.die(new Error(`the VM exited (code ${e.code ?? "-"}, signal ${e.signal ?? "-"})`));
      void vm.channels.close();
      if (!e.requested) {
        this.log.warn("VM exited", { vm: e.info.id, computation_id: e.info.computationId, code: e.code, signal: e.signal });
        this.event(e.info.computationId, vm.state, "Stopped", `exit code ${e.code ?? "-"} signal ${e.signal ?? "-"}`);
      }
    });
    // A guest whose events channel drops while it still runs is reported once, as the original does
    // when its vsock connection breaks: AgentEvent{<VM state>, Disconnected}.
    this.watch = setInterval(() => this.watchLinks(), cfg.linkWatchMs);
    (this.watch as { unref?: () => void }).unref?.();
    // VM output (QEMU, the guest console, the agent's stderr) is guest text too: one log per line.
    backend.onOutput((o) => {
      const level = o.stream === "stdout" ? "DEBUG" : /warning/i.test(o.text) ? "WARN" : "ERROR";
      for (const line of o.text.split(/\r?\n/)) {
        for (let i = 0; i < line.length; i += 1024) {
          const piece = line.slice(i, i + 1024);
          if (piece.trim().length >= 3) this.agentLog(o.info.computationId, level, guestText(piece));
        }
      }
    });
  }

  list(): VmInfo[] {
    return [...this.vms.values()].map((v) => v.info);
  }

  /** What the manager holds for computations (all 0 when none runs or is being received): tests, soak bench. */
  footprint(): { vms: number; starting: number; pendingRunRequests: number; pendingRunRequestBytes: number; backendVms: number } {
    return {
      vms: this.vms.size,
      starting: this.starting.size,
      pendingRunRequests: this.assembler.pendingIds().length,
      pendingRunRequestBytes: this.assembler.heldBytes(),
      backendVms: this.backend.list().length,
    };
  }

  find(idOrComputation: string): VmInfo | undefined {
    return this.vms.get(idOrComputation)?.info ?? this.list().find((v) => v.id === idOrComputation);
  }

  /** Re-adopts VMs recorded in the state dir; drops the records of those that are gone. */
  async restore(): Promise<{ adopted: number; dropped: number }> {
    let adopted = 0;
    let dropped = 0;
    for (const info of this.store.load((f, e) => this.log.warn("unreadable VM state file", { file: f, error: e }))) {
      const ok = info.backend === this.backend.name && (await this.backend.adopt(info).catch(() => false));
      if (!ok) {
        this.store.remove(info.id);
        dropped++;
        this.log.info("VM from the state dir is gone; dropped its record", { vm: info.id, computation_id: info.computationId });
        continue;
      }
      this.vms.set(info.computationId, this.newVm(info, "VmRunning"));
      adopted++;
      this.log.info("re-adopted VM", { vm: info.id, computation_id: info.computationId, pid: info.pid, agent_port: info.agentPort });
    }
    return { adopted, dropped };
  }

  /** One message from the computations server. */
  handle(msg: ServerStreamMessage): void {
    if (msg.runReqChunks) {
      let done: { id: string; bytes: Uint8Array } | null;
      try {
        done = this.assembler.add(msg.runReqChunks as { data: Uint8Array; id: string; is_last: boolean });
      } catch (e) {
        this.log.warn("run request refused", { error: e as Error });
        // The control plane hears why (once per stream) when the id is one it can be told about.
        const id = e instanceof RunReqRefused ? e.id : "";
        if (id) {
          this.event(id, "VmProvision", "Failed", (e as Error).message);
          this.runResponse(id, "", (e as Error).message);
        }
        return;
      }
      if (done) void this.runFromBytes(done.id, done.bytes);
    } else if (msg.stopComputation) {
      const id = (msg.stopComputation as { computation_id: string }).computation_id;
      void this.stop(id).then((err) => this.out.send({ stopComputationRes: { computation_id: id, message: err } }));
    } else if (msg.attestationPolicyReq) {
      const id = (msg.attestationPolicyReq as { id: string }).id;
      const r = this.attestationPolicy(id);
      if (r.ok) this.out.send({ attestationPolicy: { info: r.info, id } });
      else this.log.warn("attestation policy request failed", { computation_id: id, error: r.error });
    } else if (msg.svmInfoReq) {
      const id = (msg.svmInfoReq as { id: string }).id;
      this.metrics.count("ReturnSVMInfo");
      this.out.send({
        svm_info: {
          id,
          ovmf_version: this.cfg.qemuOvmfVersion,
          cpu_num: this.cfg.qemuSmpCount,
          cpu_type: this.cfg.qemuCpu,
          kernel_cmd: "quiet console=null",
          eos_version: this.cfg.eosVersion,
        },
      });
    } else if (msg.runReq) {
      // Cocos v0.10: a whole ComputationRunReq in one message (bounded by the stream's 16 MiB message limit).
      void this.run(msg.runReq as RunReqObject);
    } else if (msg.terminateReq) {
      this.log.warn("computations server asked the manager to terminate; VMs keep running", { message: (msg.terminateReq as { message: string }).message });
    } else {
      this.log.warn("unknown message from the computations server", { keys: Object.keys(msg) });
    }
  }

  private async runFromBytes(chunkId: string, bytes: Uint8Array): Promise<void> {
    let req: RunReqObject;
    try {
      req = decodeMessage<RunReqObject>(ComputationRunReqType, bytes);
    } catch (e) {
      this.log.warn("received manifest may be corrupted", { computation_id: chunkId, error: e as Error });
      this.event(chunkId, "VmProvision", "Failed", `received manifest may be corrupted: ${(e as Error).message}`);
      this.runResponse(chunkId, "", `received manifest may be corrupted: ${(e as Error).message}`);
      return;
    }
    if ((req.id ?? "") !== chunkId) {
      const why = `run request refused: its chunks were sent as computation ${chunkId} but it is for ${JSON.stringify(req.id ?? "")}`;
      this.log.warn(why);
      this.event(chunkId, "VmProvision", "Failed", why);
      this.runResponse(chunkId, "", why);
      return;
    }
    await this.run(req);
  }

  /** Validates the manifest, boots the VM, delivers the manifest and answers RunResponse. */
  async run(req: RunReqObject): Promise<{ ok: true; info: VmInfo } | { ok: false; error: string }> {
    const id = req.id ?? "";
    const idError = checkComputationId(id);
    if (idError) {
      this.log.warn(`Method Run failed: ${idError}`);
      return { ok: false, error: idError };
    }
    const t0 = performance.now();
    this.metrics.count("Run");
    const fail = (error: string) => {
      this.log.warn(`Method Run for computation ${id} failed with error: ${error}`);
      this.event(id, "VmProvision", "Failed", error);
      this.runResponse(id, "", error);
      return { ok: false as const, error };
    };
    this.event(id, "VmProvision", "Starting");
    let manifestJson: Uint8Array;
    let algoType: string | undefined;
    try {
      const manifest = manifestFromRunReq(req);
      algoType = manifest.algorithm.algo_type || undefined;
      manifestJson = new TextEncoder().encode(manifestToJSON(manifest));
    } catch (e) {
      return fail(`manifest refused, nothing started: ${(e as Error).message}`);
    }
    // The guest takes the manifest in one host-channel frame: one that cannot travel is refused before any boot.
    const frame = manifestMessage(new TextDecoder().decode(manifestJson)).length;
    if (frame > MAX_FRAME) return fail(`manifest refused, nothing started: it is ${frame} bytes on the host channel, more than the ${MAX_FRAME}-byte frame the guest takes`);
    // It travels to the agent's environment (qemu: its kernel command line): one of the four names only.
    let logLevel: string;
    try {
      logLevel = parseLogLevel(req.agent_config?.log_level || "info");
    } catch (e) {
      return fail(`manifest refused, nothing started: agent_config.${(e as Error).message}`);
    }
    const hash = sha3_256(manifestJson);
    const existing = this.vms.get(id);
    if (existing) {
      // The computations server re-sends its request on every (re)connect: answer it, don't boot twice.
      if (existing.info.manifestHash === toHex(hash)) {
        this.runResponse(id, String(existing.info.agentPort));
        return { ok: true, info: existing.info };
      }
      return fail(`computation ${id} is already running in VM ${existing.info.id} with a different manifest (hash ${existing.info.manifestHash}); stop it first`);
    }
    if (this.starting.has(id)) return fail(`computation ${id} is already being started`);
    this.starting.add(id);
    this.event(id, "VmProvision", "InProgress");
    let info: VmInfo;
    try {
      info = await this.backend.start({
        computationId: id,
        manifestJson,
        manifestHash: hash,
        agentEnv: { AGENT_LOG_LEVEL: logLevel, AGENT_ATTESTATION: this.cfg.agentAttestation },
        ttlMs: this.cfg.vmTtlMs || undefined,
        algoType,
      });
    } catch (e) {
      this.starting.delete(id);
      return fail(`could not start the VM: ${(e as Error).message}`);
    }
    this.store.save(info);
    const vm = this.newVm(info, "VmProvision");
    this.vms.set(id, vm);
    this.starting.delete(id);
    try {
      await Promise.race([vm.channels.sendManifest(manifestJson), vm.died]);
    } catch (e) {
      if (this.vms.get(id) === vm) await this.stop(id, true);
      return fail(`the agent did not take the manifest: ${(e as Error).message}`);
    }
    vm.state = "VmRunning";
    this.event(id, "VmProvision", "Completed");
    this.runResponse(id, String(info.agentPort));
    this.metrics.observe("Run", (performance.now() - t0) / 1000);
    this.log.info(`Method Run for computation ${id} took ${Math.round(performance.now() - t0)} ms to complete`, { vm: info.id, agent_port: info.agentPort });
    return { ok: true, info };
  }

  /** Stops the computation's VM; resolves with "" or the error text (StopComputationResponse.message). */
  async stop(computationId: string, quiet = false): Promise<string> {
    this.metrics.count("Stop");
    const vm = this.vms.get(computationId) ?? [...this.vms.values()].find((v) => v.info.id === computationId);
    if (!vm) {
      const err = `entity not found: no VM for computation ${JSON.stringify(computationId)}`;
      if (!quiet) this.event(computationId, "StopComputationRun", "Failed", err);
      return err;
    }
    vm.state = "StopComputationRun";
    try {
      await this.backend.stop(vm.info.id, { graceMs: this.cfg.stopGraceMs });
    } catch (e) {
      const err = `could not stop VM ${vm.info.id}: ${(e as Error).message}`;
      if (!quiet) this.event(vm.info.computationId, "StopComputationRun", "Failed", err);
      return err;
    }
    this.vms.delete(vm.info.computationId);
    this.store.remove(vm.info.id);
    await vm.channels.close();
    if (!quiet) this.event(vm.info.computationId, "StopComputationRun", "Completed");
    return "";
  }

  /**
   * The policy parties verify against: MANAGER_ATTESTATION_POLICY_FILE (if any) with host_data = the
   * manifest hash this VM was launched with, measurement = what the backend recorded, and — when the
   * manager is the agent's (sim) secure processor — the sim root pinned.
   */
  attestationPolicy(id: string): { ok: true; info: Uint8Array } | { ok: false; error: string } {
    this.metrics.count("FetchAttestationPolicy");
    const vm = this.vms.get(id);
    if (!vm) return { ok: false, error: `entity not found: no VM for computation ${JSON.stringify(id)}` };
    let policy: AttestationPolicy = {};
    try {
      if (this.cfg.attestationPolicyFile) policy = parsePolicy(readFileSync(this.cfg.attestationPolicyFile, "utf8"));
      policy = setHostData(policy, Buffer.from(vm.info.manifestHash, "hex"));
      const m = launchMeasurement(vm.info);
      if (m) policy = setMeasurement(policy, m);
      if (this.cfg.agentAttestation === "host") {
        this.sim ??= SimSecureProcessor.fromStateDir(join(this.cfg.stateDir, "sim"));
        policy = trustSimRoot(policy, this.sim.root.arkSha256);
      }
    } catch (e) {
      return { ok: false, error: `attestation policy for ${id}: ${(e as Error).message}` };
    }
    return { ok: true, info: new TextEncoder().encode(formatPolicy(policy)) };
  }

  private watchLinks(): void {
    for (const vm of this.vms.values()) {
      // A VM being stopped closes its channels on purpose: that is no disconnection.
      if (vm.state === "StopComputationRun") continue;
      const up = vm.channels.link.channels.events.connected;
      if (vm.linked && !up) {
        this.log.warn("lost the events channel of a running VM", { vm: vm.info.id, computation_id: vm.info.computationId });
        this.event(vm.info.computationId, vm.state, "Disconnected");
      }
      vm.linked = up;
    }
  }

  /** Closes channels and forgets VMs without stopping them (they outlive the manager). */
  async detach(): Promise<void> {
    clearInterval(this.watch);
    clearTimeout(this.collect);
    this.assembler.clear();
    for (const vm of this.vms.values()) await vm.channels.close();
    this.vms.clear();
    this.backend.detachAll();
  }

  /** A computation's buffers (manifest, channel frames, gRPC messages) are garbage once it ends: hand them back then, not whenever the heap next fills. */
  private collectSoon(): void {
    clearTimeout(this.collect);
    this.collect = setTimeout(() => Bun.gc(true), 200);
    (this.collect as { unref?: () => void }).unref?.();
  }

  private newVm(info: VmInfo, state: Vm["state"]): Vm {
    let die!: (e: Error) => void;
    const died = new Promise<never>((_, reject) => (die = reject));
    died.catch(() => {});
    const reports = new TokenBucket(this.cfg.simReportRate, this.cfg.simReportBurst);
    return { info, channels: this.channelsFor(info), state, died, die, linked: false, reports, throttled: false };
  }

  private channelsFor(info: VmInfo): VmChannels {
    return openVmChannels(info.channelPaths, (m) => this.relay(info, m), this.log.child({ vm: info.id }), (rd) => this.simReport(info, rd));
  }

  /** A guest's event or log, attributed to the VM's own computation whatever the guest wrote. */
  private relay(info: VmInfo, m: EventsLogsMsg): void {
    if (m.message === "agent_event") {
      const e = attributeEvent(info.computationId, m.agent_event);
      this.log.info("agent event", { "agent-event": { event_type: e.event_type, status: e.status, computation_id: e.computation_id } });
      this.out.send({ agent_event: e });
    } else if (m.message === "agent_log") {
      const l = attributeLog(info.computationId, m.agent_log);
      this.log.debug("agent log", { "agent-log": { level: l.level, message: l.message } });
      this.out.send({ agent_log: l });
    }
  }

  /** The manager plays the `sim` secure processor: measurement and host_data from what it launched. */
  private async simReport(info: VmInfo, reportData: Uint8Array): Promise<Uint8Array> {
    const vm = this.vms.get(info.computationId);
    if (!vm || vm.info.id !== info.id) throw new Error(`sim attestation: VM ${info.id} is not running`);
    if (!vm.reports.take()) {
      const why = `sim attestation: too many report requests from VM ${info.id}: at most ${this.cfg.simReportRate}/s, bursts of ${this.cfg.simReportBurst} (MANAGER_SIM_REPORT_RATE, MANAGER_SIM_REPORT_BURST)`;
      // Said once per VM; every refused request still gets its error answer.
      if (!vm.throttled) {
        vm.throttled = true;
        this.log.warn("guest exceeds the sim report rate; refusing the excess", { vm: info.id, computation_id: info.computationId });
        this.event(info.computationId, vm.state, "Warning", why);
      }
      throw new Error(why);
    }
    this.sim ??= SimSecureProcessor.fromStateDir(join(this.cfg.stateDir, "sim"));
    const res = await this.sim.answer(info, { request_id: 0, report_data: reportData });
    if (res.error) {
      this.log.warn("sim attestation request refused", { vm: info.id, error: res.error });
      throw new Error(res.error);
    }
    return res.report;
  }

  private event(computationId: string, eventType: string, status: string, details = ""): void {
    this.out.send({
      agent_event: {
        event_type: eventType,
        timestamp: timestampFromDate(),
        computation_id: computationId,
        details: new TextEncoder().encode(details),
        originator: "manager",
        status,
      },
    });
  }

  private agentLog(computationId: string, level: string, message: string): void {
    this.out.send({ agent_log: { message, computation_id: computationId, level, timestamp: timestampFromDate() } });
  }

  private runResponse(computationId: string, port: string, error = ""): void {
    const res: Record<string, unknown> = { agent_port: port, computation_id: computationId };
    if (error) res.error = error;
    this.out.send({ run_res: res });
  }
}
