// A stand-in guest for manager tests: it speaks the real host-channel protocol (listens on the two
// Unix sockets the process backend names), records the manifest it receives and answers with an
// agent event and a log, and listens on AGENT_GRPC_PORT. The real agent is tested in test/e2e-*.
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { FramedChannel } from "../../protocol/host-channel/channel.ts";
import { unixListener } from "../../protocol/host-channel/transports.ts";
import { EventsLogsType, HostMessageType, decodeMessage, encodeMessage, timestampFromDate } from "../../protocol/proto.ts";

const env = process.env;
// FAKE_AGENT_NO_MANIFEST: never open the manifest socket (an agent that cannot start).
const manifest = new FramedChannel("guest", env.FAKE_AGENT_NO_MANIFEST ? { description: "none", start() {}, async stop() {} } : unixListener(env.AGENT_MANIFEST_SOCKET!));
const events = new FramedChannel("guest", unixListener(env.AGENT_EVENTS_SOCKET!));
const tcp = createServer((s) => s.end("fake-agent\n")).listen(Number(env.AGENT_GRPC_PORT), env.AGENT_GRPC_HOST);

manifest.onMessage((payload) => {
  const m = decodeMessage<{ manifest?: Uint8Array }>(HostMessageType, payload);
  if (!m.manifest) return;
  writeFileSync("received-manifest.json", m.manifest);
  const id = JSON.parse(Buffer.from(m.manifest).toString()).id ?? "";
  void events.send(
    encodeMessage(EventsLogsType, {
      agent_event: { event_type: "ReceivingAlgorithm", timestamp: timestampFromDate(), computation_id: id, details: new Uint8Array(0), originator: "agent", status: "InProgress" },
    }),
  );
  void events.send(encodeMessage(EventsLogsType, { agent_log: { message: "fake agent got the manifest", computation_id: "", level: "INFO", timestamp: timestampFromDate() } }));
  // FAKE_AGENT_REPORT_FLOOD=N: N sim report requests at once; the answers are counted into report-flood.json.
  if (env.FAKE_AGENT_REPORT_FLOOD) {
    const n = Number(env.FAKE_AGENT_REPORT_FLOOD);
    const counts = { reports: 0, refused: 0, errors: [] as string[] };
    events.onMessage((p) => {
      const r = decodeMessage<{ report_response?: { report: Uint8Array; error: string } }>(HostMessageType, p).report_response;
      if (!r) return;
      if (r.error) counts.refused++, counts.errors.length < 3 && counts.errors.push(r.error);
      else counts.reports++;
      if (counts.reports + counts.refused === n) writeFileSync("report-flood.json", JSON.stringify(counts));
    });
    for (let i = 1; i <= n; i++) void events.send(encodeMessage(EventsLogsType, { report_request: { request_id: i, report_data: new Uint8Array(64).fill(i & 0xff) } }));
  }
  // FAKE_AGENT_IMPERSONATE: a hostile guest speaking for another computation, as the manager, with terminal escapes.
  if (env.FAKE_AGENT_IMPERSONATE) {
    const other = env.FAKE_AGENT_IMPERSONATE;
    const details = new TextEncoder().encode("\x1b[2J\x1b]0;owned\x07fake\nline");
    void events.send(encodeMessage(EventsLogsType, { agent_event: { event_type: "VmProvision", timestamp: timestampFromDate(), computation_id: other, details, originator: "manager", status: "Completed" } }));
    void events.send(encodeMessage(EventsLogsType, { agent_event: { event_type: "Run\x1b[31mning", timestamp: timestampFromDate(), computation_id: other, details: new Uint8Array(0), originator: "agent", status: "x".repeat(500) } }));
    void events.send(encodeMessage(EventsLogsType, { agent_log: { message: "\x1b[1A\x1b[2Kforged\r\n2026 INFO ok" + "A".repeat(10_000), computation_id: other, level: "INFO\x1b", timestamp: timestampFromDate() } }));
  }
});

// FAKE_AGENT_TERM_DELAY_MS: on SIGTERM the channels close at once, the process lingers this long (a slow shutdown).
const quit = () => {
  tcp.close();
  void Promise.all([manifest.close(), events.close()])
    .then(() => Bun.sleep(Number(env.FAKE_AGENT_TERM_DELAY_MS ?? 0)))
    .then(() => process.exit(env.FAKE_AGENT_EXIT_CODE ? Number(env.FAKE_AGENT_EXIT_CODE) : 0));
};
process.on("SIGTERM", quit);
if (env.FAKE_AGENT_EXIT_AFTER_MS) setTimeout(() => {
  process.stderr.write("fake agent: exiting on purpose\n");
  process.exit(3);
}, Number(env.FAKE_AGENT_EXIT_AFTER_MS));
if (env.FAKE_AGENT_IGNORE_TERM) process.removeAllListeners("SIGTERM"), process.on("SIGTERM", () => {});
if (env.FAKE_AGENT_DROP_EVENTS_AFTER_MS) setTimeout(() => void events.close(), Number(env.FAKE_AGENT_DROP_EVENTS_AFTER_MS));
