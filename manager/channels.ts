// Host side of a VM's two host↔guest channels, the same for every backend: the manager dials the
// Unix sockets the backend reported (agent process or QEMU chardev), delivers the manifest (again on
// every reconnect), relays events/logs, and answers the guest's report requests when asked to.
import { HostLink, connectHostChannels, type EventsLogsMsg } from "../protocol/host-channel/links.ts";
import type { ChannelPaths } from "./backend.ts";
import type { Logger } from "./log.ts";

export type { EventsLogsMsg };

export interface VmChannels {
  link: HostLink;
  /** Resolves when the guest acknowledged the manifest frame. */
  sendManifest(json: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export function openVmChannels(
  paths: ChannelPaths,
  onEvent: (m: EventsLogsMsg) => void,
  log: Logger,
  onReportRequest?: (reportData: Uint8Array) => Promise<Uint8Array>,
): VmChannels {
  const chlog = (level: "debug" | "warn", msg: string) => log[level](msg);
  const link = new HostLink(connectHostChannels(paths.manifest, paths.events, { log: chlog }), (m) => log.warn(m));
  link.onEventsLogs(onEvent);
  if (onReportRequest) link.onReportRequest(onReportRequest);
  return {
    link,
    sendManifest: (json) => link.setManifest(new TextDecoder().decode(json)),
    close: () => link.close(),
  };
}
