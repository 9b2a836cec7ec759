// Host side of a VM's two host↔guest channels, the same for every backend: the manager dials the
// Unix sockets the backend reported (agent process or QEMU chardev), sends the manifest down one,
// and decodes events/logs coming up the other.
import { FramedChannel, type HostChannel } from "../protocol/host-channel/channel.ts";
import { unixConnector } from "../protocol/host-channel/transports.ts";
import { EventsLogsType, HostMessageType, decodeMessage, encodeMessage } from "../protocol/proto.ts";
import type { ChannelPaths } from "./backend.ts";
import type { Logger } from "./log.ts";

export interface EventsLogsMessage {
  message?: string;
  agent_log?: { message: string; computation_id: string; level: string; timestamp: unknown };
  agent_event?: { event_type: string; timestamp: unknown; computation_id: string; details: Uint8Array; originator: string; status: string };
  report_request?: { request_id: number; report_data: Uint8Array };
}

export interface VmChannels {
  manifest: HostChannel;
  events: HostChannel;
  /** Resolves when the guest acknowledged the manifest frame. */
  sendManifest(json: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export function openVmChannels(paths: ChannelPaths, onEvent: (m: EventsLogsMessage) => void, log: Logger): VmChannels {
  const chlog = (level: "debug" | "warn", msg: string) => log[level](msg);
  const manifest = new FramedChannel("host", unixConnector(paths.manifest), { log: chlog });
  const events = new FramedChannel("host", unixConnector(paths.events), { log: chlog });
  events.onMessage((payload) => {
    let m: EventsLogsMessage;
    try {
      m = decodeMessage<EventsLogsMessage>(EventsLogsType, payload);
    } catch (e) {
      log.warn("dropped a malformed events frame", { bytes: payload.length, error: e as Error });
      return;
    }
    onEvent(m);
  });
  return {
    manifest,
    events,
    sendManifest: (json) => manifest.send(encodeMessage(HostMessageType, { manifest: json })),
    close: async () => {
      await Promise.all([manifest.close(), events.close()]);
    },
  };
}
