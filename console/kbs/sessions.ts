// RCAR sessions: created by auth with a fresh nonce, attested once, spent by one resource release,
// and gone after their lifetime. A cookie or token that was already used, or that is unknown or
// expired, is refused — replaying a captured session never releases a second key.
import { randomBytes } from "node:crypto";
import type { KbsRuntimeData } from "../../attestation/kbs-binding.ts";

export type SessionState = "challenged" | "attested" | "spent";

export interface Session {
  id: string;
  nonce: string;
  tee: string;
  state: SessionState;
  expiresAt: number;
  /** Set by attest: what the resource step re-verifies against each resource's policy. */
  runtime?: KbsRuntimeData;
  evidence?: Uint8Array;
}

const MAX_SESSIONS = 10_000;

export class Sessions {
  private map = new Map<string, Session>();

  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  create(tee: string): Session {
    this.sweep();
    if (this.map.size >= MAX_SESSIONS) throw new SessionError(503, `too many open KBS sessions (${MAX_SESSIONS}); retry later`);
    const s: Session = { id: randomBytes(24).toString("base64url"), nonce: randomBytes(32).toString("base64url"), tee, state: "challenged", expiresAt: this.now() + this.ttlMs };
    this.map.set(s.id, s);
    return s;
  }

  /** The live session `id` in state `want`, or a SessionError naming what was expected and found. */
  take(id: string | undefined, want: SessionState): Session {
    if (!id) throw new SessionError(401, "expected a kbs-session-id cookie or a bearer token from /kbs/v0/attest, received none");
    const s = this.map.get(id);
    if (!s) throw new SessionError(401, "unknown or expired KBS session: start again with /kbs/v0/auth");
    if (this.now() > s.expiresAt) {
      this.map.delete(id);
      throw new SessionError(401, "KBS session expired: start again with /kbs/v0/auth");
    }
    if (s.state !== want) throw new SessionError(401, `KBS session is ${s.state}, expected ${want}${s.state === "spent" ? " (a session releases one resource; replay refused)" : ""}`);
    return s;
  }

  /** The map is in creation order and every session lives ttlMs, so the expired ones are a prefix. */
  private sweep(): void {
    const t = this.now();
    for (const [id, s] of this.map) {
      if (t <= s.expiresAt) break;
      this.map.delete(id);
    }
  }
}

export class SessionError extends Error {
  constructor(readonly status: 401 | 503, message: string) {
    super(message);
  }
}
