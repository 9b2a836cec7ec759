// Prometheus text exposition of the agent's counters (no client library: a handful of series).
import { STATES, type AgentState } from "./state.ts";

export class Metrics {
  uploads = new Map<string, number>(); // key: `${rpc}|${result}`
  uploadBytes = new Map<string, number>(); // key: rpc
  resultDownloads = 0;
  attestations = 0;
  runs = new Map<string, number>(); // key: outcome
  lastRunSeconds = 0;
  transitions = 0;

  constructor(private readonly state: () => AgentState, private readonly started = Date.now()) {}

  upload(rpc: string, result: string, bytes = 0): void {
    const k = `${rpc}|${result}`;
    this.uploads.set(k, (this.uploads.get(k) ?? 0) + 1);
    if (bytes > 0) this.uploadBytes.set(rpc, (this.uploadBytes.get(rpc) ?? 0) + bytes);
  }

  run(outcome: string, seconds: number): void {
    this.runs.set(outcome, (this.runs.get(outcome) ?? 0) + 1);
    this.lastRunSeconds = seconds;
  }

  render(): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
    };
    const cur = this.state();
    metric("cocos_agent_state", "gauge", "1 for the computation's current state.", STATES.map((s) => [`{state="${s}"}`, s === cur ? 1 : 0]));
    metric("cocos_agent_uploads_total", "counter", "Algo/Data uploads by outcome.", [...this.uploads].map(([k, v]) => {
      const [rpc, result] = k.split("|");
      return [`{rpc="${rpc}",result="${result}"}`, v];
    }));
    metric("cocos_agent_upload_bytes_total", "counter", "Bytes received in accepted uploads.", [...this.uploadBytes].map(([rpc, v]) => [`{rpc="${rpc}"}`, v]));
    metric("cocos_agent_result_downloads_total", "counter", "Successful Result downloads.", [["", this.resultDownloads]]);
    metric("cocos_agent_attestations_total", "counter", "Attestation reports served.", [["", this.attestations]]);
    metric("cocos_agent_runs_total", "counter", "Algorithm runs by outcome.", [...this.runs].map(([o, v]) => [`{outcome="${o}"}`, v]));
    metric("cocos_agent_run_duration_seconds", "gauge", "Duration of the last run.", [["", this.lastRunSeconds]]);
    metric("cocos_agent_uptime_seconds", "gauge", "Seconds since the agent started.", [["", (Date.now() - this.started) / 1000]]);
    const mem = process.memoryUsage();
    metric("cocos_agent_resident_memory_bytes", "gauge", "Resident set size.", [["", mem.rss]]);
    return lines.join("\n") + "\n";
  }
}
