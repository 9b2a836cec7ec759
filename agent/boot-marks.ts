// Boot timing marks for the guest's boot breakdown (bench/boot.ts): one JSON line per phase on
// stdout (the serial console in the VM) with the time since the runtime started and the guest's
// uptime, so the phases line up with /init's own uptime lines. Only when AGENT_BOOT_MARKS=1
// (images/init.sh sets it): off the host's logs and tests.
import { readFileSync } from "node:fs";

export interface BootMarks {
  mark(phase: string): void;
  /** Watches the agent's own log lines for the phases only the agent knows (first event, ready). */
  watch(line: string): void;
}

const WATCHED: readonly [phase: string, needle: string][] = [
  ["first-event", '"msg":"event"'],
  ["manifest", '"msg":"manifest received"'],
  ["ready", '"msg":"agent ready"'],
];

function uptime(): number | undefined {
  try {
    return Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  } catch {
    return undefined;
  }
}

export function bootMarks(env: Record<string, string | undefined> = process.env, write: (line: string) => void = (l) => void process.stdout.write(l + "\n")): BootMarks {
  const on = env.AGENT_BOOT_MARKS === "1";
  const seen = new Set<string>();
  const mark = (phase: string) => {
    if (!on || seen.has(phase)) return;
    seen.add(phase);
    write(JSON.stringify({ time: new Date().toISOString(), level: "INFO", msg: "boot", phase, since_start_ms: Math.round(performance.now()), uptime_s: uptime() }));
  };
  return {
    mark,
    watch(line) {
      if (!on || seen.size > WATCHED.length + 3) return;
      for (const [phase, needle] of WATCHED) if (line.includes(needle)) mark(phase);
    },
  };
}
