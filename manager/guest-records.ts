// What a guest says about itself, made fit to relay: the manager alone decides whom a record is
// about (the computation of the VM it came from, originator "agent"), and guest text reaches logs
// and the control plane with control characters escaped and its length bounded.
import type { AgentEventMsg, AgentLogMsg } from "../protocol/host-channel/links.ts";
import { escapeControl } from "../protocol/text.ts";

/** Longest log message / event details relayed (characters / bytes); the rest is cut with a marker. */
export const MAX_GUEST_TEXT = 4096;
/** event_type, status and level: Cocos names are short identifiers (VmProvision, InProgress, INFO). */
const NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const LEVELS = new Set(["DEBUG", "INFO", "WARN", "WARNING", "ERROR"]);
/** Control characters JSON.stringify leaves raw inside strings (DEL, C1, separators, bidi). */
const JSON_RAW_CONTROL = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/** Escaped and at most `max` characters long (an escape is never cut in half: cut first, escape after). */
export function guestText(s: string, max = MAX_GUEST_TEXT): string {
  const cut = s.length > max;
  const t = escapeControl(cut ? s.slice(0, max) : s);
  return cut ? `${t}…(${s.length - max} more characters cut)` : t;
}

/** A guest-chosen name (event type, status): itself when it is a plain identifier, else a visible marker. */
export function guestName(s: string): string {
  return NAME.test(s) ? s : `invalid(${guestText(s, 64)})`;
}

/** Event details are JSON in Cocos: kept as compact JSON with controls \u-escaped, else escaped text. */
export function guestDetails(bytes: Uint8Array | null | undefined): Uint8Array {
  if (!bytes?.length) return new Uint8Array(0);
  const text = new TextDecoder().decode(bytes.subarray(0, MAX_GUEST_TEXT * 4));
  let out: string;
  try {
    out = JSON.stringify(JSON.parse(text)).replace(JSON_RAW_CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
    if (out.length > MAX_GUEST_TEXT) out = guestText(text);
  } catch {
    out = guestText(text);
  }
  return new TextEncoder().encode(out);
}

export function attributeEvent(computationId: string, e: AgentEventMsg): AgentEventMsg {
  return {
    event_type: guestName(e.event_type ?? ""),
    status: guestName(e.status ?? ""),
    timestamp: e.timestamp,
    details: guestDetails(e.details),
    computation_id: computationId,
    originator: "agent",
  };
}

export function attributeLog(computationId: string, l: AgentLogMsg): AgentLogMsg {
  const level = (l.level ?? "").toUpperCase();
  return {
    // The agent's log lines end in a newline; relayed as "\x0a" it would only clutter.
    message: guestText((l.message ?? "").replace(/[\r\n]+$/, "")),
    level: LEVELS.has(level) ? level : `invalid(${guestText(l.level ?? "", 16)})`,
    timestamp: l.timestamp,
    computation_id: computationId,
  };
}
