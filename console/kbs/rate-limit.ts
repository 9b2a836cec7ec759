// The RCAR endpoints take no credential before attest (the agent is the client), so each client
// address gets a budget of requests per window: a flood of auth calls cannot fill the session table
// or keep the evidence verifier busy for everyone else.
export interface KbsRateLimitOptions {
  /** Requests one client address may make per window. */
  max: number;
  windowMs: number;
}

export const KBS_RATE_DEFAULTS: KbsRateLimitOptions = { max: 120, windowMs: 60_000 };

/** Addresses tracked at once; past it the oldest windows are forgotten (a spoofed-address flood stays bounded). */
const MAX_CLIENTS = 50_000;

export class KbsRateLimit {
  private windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly o: KbsRateLimitOptions = KBS_RATE_DEFAULTS, private readonly now: () => number = Date.now) {}

  /** Counts one request of `client`; the seconds to wait when it is over budget, else 0. */
  take(client: string): number {
    const t = this.now();
    let w = this.windows.get(client);
    if (!w || t - w.start >= this.o.windowMs) {
      this.windows.delete(client); // re-inserted last: the map stays ordered by window start
      w = { start: t, count: 0 };
      this.windows.set(client, w);
      if (this.windows.size > MAX_CLIENTS) this.windows.delete(this.windows.keys().next().value!);
    }
    if (w.count >= this.o.max) return Math.max(1, Math.ceil((w.start + this.o.windowMs - t) / 1000));
    w.count++;
    return 0;
  }
}
