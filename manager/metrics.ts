// The original's go-kit metrics (manager_api_request_count / _latency_microseconds{method}) in
// Prometheus text format, plus VM gauges.
export class Metrics {
  private counts = new Map<string, number>();
  private latency = new Map<string, { sum: number; n: number }>();

  count(method: string): void {
    this.counts.set(method, (this.counts.get(method) ?? 0) + 1);
  }

  observe(method: string, seconds: number): void {
    const l = this.latency.get(method) ?? { sum: 0, n: 0 };
    l.sum += seconds;
    l.n++;
    this.latency.set(method, l);
  }

  render(gauges: Record<string, number> = {}): string {
    const lines = ["# HELP manager_api_request_count Number of requests received.", "# TYPE manager_api_request_count counter"];
    for (const [m, n] of this.counts) lines.push(`manager_api_request_count{method="${m}"} ${n}`);
    lines.push("# HELP manager_api_request_latency_microseconds Total duration of requests (the original observes seconds).");
    lines.push("# TYPE manager_api_request_latency_microseconds summary");
    for (const [m, l] of this.latency) {
      lines.push(`manager_api_request_latency_microseconds_sum{method="${m}"} ${l.sum}`);
      lines.push(`manager_api_request_latency_microseconds_count{method="${m}"} ${l.n}`);
    }
    for (const [name, v] of Object.entries(gauges)) lines.push(`# TYPE ${name} gauge`, `${name} ${v}`);
    return lines.join("\n") + "\n";
  }
}
