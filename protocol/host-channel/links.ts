// The two logical channels between manager and agent, and what travels on them:
//   manifest channel (host → guest): HostMessage{manifest}
//   events channel   (guest → host): EventsLogs{agent_event | agent_log | report_request}
//                    (host → guest): HostMessage{report_response}
import { join } from "node:path";
import { decodeMessage, encodeMessage, EventsLogsType, HostMessageType, type Timestamp } from "../proto.ts";
import { FramedChannel, type ChannelOptions, type HostChannel } from "./channel.ts";
import { unixConnector, unixListener, virtioSerialConnector, vsockConnector } from "./transports.ts";

export const MANIFEST_VSOCK_PORT = 9999;
export const EVENTS_VSOCK_PORT = 9997;
export const VIRTIO_PORTS_DIR = "/dev/virtio-ports";
export const VIRTIO_MANIFEST_NAME = "cocos.manifest";
export const VIRTIO_EVENTS_NAME = "cocos.events";
export const UNIX_MANIFEST_SOCK = "manifest.sock";
export const UNIX_EVENTS_SOCK = "events.sock";

export interface ChannelPair {
  manifest: HostChannel;
  events: HostChannel;
}

export interface AgentEventMsg {
  event_type: string;
  timestamp: Timestamp;
  computation_id: string;
  details: Uint8Array;
  originator: string;
  status: string;
}

export interface AgentLogMsg {
  message: string;
  computation_id: string;
  level: string;
  timestamp: Timestamp;
}

export type EventsLogsMsg =
  | { message: "agent_event"; agent_event: AgentEventMsg }
  | { message: "agent_log"; agent_log: AgentLogMsg }
  | { message: "report_request"; report_request: { request_id: number; report_data: Uint8Array } };

type HostMsg =
  | { message: "manifest"; manifest: Uint8Array }
  | { message: "report_response"; report_response: { request_id: number; report: Uint8Array; error: string } };

/**
 * Guest side, from a spec string:
 *   `unix:DIR` (process backend: the agent listens on DIR/manifest.sock and DIR/events.sock and the
 *   host dials them, as it dials QEMU's chardev sockets),
 *   `virtio-serial[:DIR]` (default DIR /dev/virtio-ports), `vsock[:CID]` (host CID, default 2).
 */
export function openGuestChannels(spec: string, o: ChannelOptions = {}): ChannelPair {
  const [kind, arg] = splitSpec(spec);
  switch (kind) {
    case "unix":
      if (!arg) throw new Error(`host channel "unix:" needs a directory, got ${JSON.stringify(spec)}`);
      return listenGuestChannels(join(arg, UNIX_MANIFEST_SOCK), join(arg, UNIX_EVENTS_SOCK), o);
    case "virtio-serial": {
      const dir = arg || VIRTIO_PORTS_DIR;
      return pair("guest", virtioSerialConnector(join(dir, VIRTIO_MANIFEST_NAME)), virtioSerialConnector(join(dir, VIRTIO_EVENTS_NAME)), o);
    }
    case "vsock": {
      const cid = arg ? Number(arg) : 2;
      if (!Number.isInteger(cid) || cid < 0) throw new Error(`vsock CID must be an integer, got ${JSON.stringify(arg)}`);
      return pair("guest", vsockConnector(MANIFEST_VSOCK_PORT, cid), vsockConnector(EVENTS_VSOCK_PORT, cid), o);
    }
    default:
      throw new Error(`unknown host channel ${JSON.stringify(spec)}, expected unix:DIR, virtio-serial[:DIR] or vsock[:CID]`);
  }
}

function splitSpec(spec: string): [string, string] {
  const i = spec.indexOf(":");
  return i < 0 ? [spec, ""] : [spec.slice(0, i), spec.slice(i + 1)];
}

function pair(side: "guest" | "host", m: import("./channel.ts").Connector, e: import("./channel.ts").Connector, o: ChannelOptions): ChannelPair {
  return { manifest: new FramedChannel(side, m, o), events: new FramedChannel(side, e, o) };
}

/** Guest side of the process backend: the agent listens on two Unix sockets the host dials. */
export function listenGuestChannels(manifestSocket: string, eventsSocket: string, o: ChannelOptions = {}): ChannelPair {
  return pair("guest", unixListener(manifestSocket), unixListener(eventsSocket), o);
}

/** Host side that listens (for a guest that dials): DIR/manifest.sock and DIR/events.sock. */
export function listenHostChannels(dir: string, o: ChannelOptions = {}): ChannelPair {
  return pair("host", unixListener(join(dir, UNIX_MANIFEST_SOCK)), unixListener(join(dir, UNIX_EVENTS_SOCK)), o);
}

/**
 * Host side that dials: QEMU's chardev sockets (`-chardev socket,server=on,wait=off`) or the agent's
 * sockets of the process backend.
 */
export function connectHostChannels(manifestSocket: string, eventsSocket: string, o: ChannelOptions = {}): ChannelPair {
  return pair("host", unixConnector(manifestSocket), unixConnector(eventsSocket), o);
}

export class GuestLink {
  private manifestWaiters: ((json: string) => void)[] = [];
  private manifestJson: string | null = null;
  private reports = new Map<number, { resolve(b: Uint8Array): void; reject(e: Error): void }>();
  private nextReq = 1;

  constructor(readonly channels: ChannelPair, private readonly log: (msg: string) => void = () => {}) {
    channels.manifest.onMessage((p) => this.onHostMessage(p));
    channels.events.onMessage((p) => this.onHostMessage(p));
  }

  private onHostMessage(payload: Uint8Array): void {
    let msg: HostMsg;
    try {
      msg = decodeMessage<HostMsg>(HostMessageType, payload);
    } catch (err) {
      this.log(`dropped a host message that is not a HostMessage protobuf: ${(err as Error).message}`);
      return;
    }
    if (msg.message === "manifest") {
      if (this.manifestJson !== null) return; // re-sent after a reconnect; the first one stands
      this.manifestJson = Buffer.from(msg.manifest).toString("utf8");
      for (const w of this.manifestWaiters.splice(0)) w(this.manifestJson);
    } else if (msg.message === "report_response") {
      const r = msg.report_response;
      const waiter = this.reports.get(r.request_id);
      if (!waiter) return;
      this.reports.delete(r.request_id);
      if (r.error) waiter.reject(new Error(`host could not produce a report: ${r.error}`));
      else waiter.resolve(new Uint8Array(r.report));
    }
  }

  /** The manifest JSON, as soon as the host has delivered it. */
  manifest(): Promise<string> {
    if (this.manifestJson !== null) return Promise.resolve(this.manifestJson);
    return new Promise((resolve) => this.manifestWaiters.push(resolve));
  }

  sendEvent(e: AgentEventMsg): Promise<void> {
    return this.channels.events.send(encodeMessage(EventsLogsType, { agent_event: e }));
  }

  sendLog(l: AgentLogMsg): Promise<void> {
    return this.channels.events.send(encodeMessage(EventsLogsType, { agent_log: l }));
  }

  /** Asks the host for a report over reportData (the QEMU backend's simulated SNP report). */
  requestReport(reportData: Uint8Array, timeoutMs = 30_000): Promise<Uint8Array> {
    const request_id = this.nextReq++;
    return new Promise<Uint8Array>((resolve, reject) => {
      const t = setTimeout(() => {
        this.reports.delete(request_id);
        reject(new Error(`host did not answer report request ${request_id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.reports.set(request_id, {
        resolve: (b) => (clearTimeout(t), resolve(b)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
      this.channels.events.send(encodeMessage(EventsLogsType, { report_request: { request_id, report_data: Buffer.from(reportData) } })).catch((err) => {
        this.reports.delete(request_id);
        clearTimeout(t);
        reject(err);
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.channels.manifest.close(), this.channels.events.close()]);
  }
}

/** The HostMessage that carries a manifest down the manifest channel (one frame: at most MAX_FRAME bytes). */
export function manifestMessage(json: string): Uint8Array {
  return encodeMessage(HostMessageType, { manifest: Buffer.from(json, "utf8") });
}

export class HostLink {
  private manifestBytes: Uint8Array | null = null;
  private listeners: ((m: EventsLogsMsg) => void)[] = [];
  private reportHandler: ((reportData: Uint8Array) => Promise<Uint8Array>) | null = null;

  constructor(readonly channels: ChannelPair, private readonly log: (msg: string) => void = () => {}) {
    channels.manifest.onConnect(() => this.pushManifest());
    channels.events.onMessage((p) => this.onGuestMessage(p));
  }

  /** Delivers the manifest now and again on every reconnect of the manifest channel. */
  setManifest(json: string): Promise<void> {
    this.manifestBytes = manifestMessage(json);
    return this.channels.manifest.send(this.manifestBytes);
  }

  private pushManifest(): void {
    if (this.manifestBytes) this.channels.manifest.send(this.manifestBytes).catch((err) => this.log(`manifest delivery failed: ${err.message}`));
  }

  onEventsLogs(cb: (m: EventsLogsMsg) => void): void {
    this.listeners.push(cb);
  }

  onReportRequest(handler: (reportData: Uint8Array) => Promise<Uint8Array>): void {
    this.reportHandler = handler;
  }

  private onGuestMessage(payload: Uint8Array): void {
    let msg: EventsLogsMsg | { message?: undefined };
    try {
      msg = decodeMessage<EventsLogsMsg>(EventsLogsType, payload);
    } catch (err) {
      this.log(`dropped a guest message that is not an EventsLogs protobuf: ${(err as Error).message}`);
      return;
    }
    if (!msg.message) return;
    if (msg.message === "report_request") {
      void this.answerReport(msg.report_request.request_id, new Uint8Array(msg.report_request.report_data));
      return;
    }
    for (const l of this.listeners) l(msg);
  }

  private async answerReport(request_id: number, reportData: Uint8Array): Promise<void> {
    let report: Uint8Array = new Uint8Array(0);
    let error = "";
    if (!this.reportHandler) error = "this host has no attestation report provider";
    else {
      try {
        report = await this.reportHandler(reportData);
      } catch (err) {
        error = (err as Error).message || String(err);
      }
    }
    const bytes = encodeMessage(HostMessageType, { report_response: { request_id, report: Buffer.from(report), error } });
    await this.channels.events.send(bytes).catch((err) => this.log(`report response failed: ${err.message}`));
  }

  async close(): Promise<void> {
    await Promise.all([this.channels.manifest.close(), this.channels.events.close()]);
  }
}
