import { describe, expect, test } from "bun:test";
import { bootMarks } from "./boot-marks.ts";

describe("boot marks", () => {
  test("silent unless AGENT_BOOT_MARKS=1 (host logs and tests stay as they were)", () => {
    const lines: string[] = [];
    const m = bootMarks({}, (l) => lines.push(l));
    m.mark("entry");
    m.watch('{"msg":"agent ready"}');
    expect(lines).toEqual([]);
  });

  test("one JSON line per phase, each phase once; log lines mark first event, manifest and ready", () => {
    const lines: string[] = [];
    const m = bootMarks({ AGENT_BOOT_MARKS: "1" }, (l) => lines.push(l));
    m.mark("entry");
    m.mark("entry");
    m.watch('{"level":"INFO","msg":"event","event_type":"Idle"}');
    m.watch('{"level":"INFO","msg":"event","event_type":"ReceivingManifest"}');
    m.watch('{"level":"INFO","msg":"agent ready","grpc_port":7002}');
    const recs = lines.map((l) => JSON.parse(l));
    expect(recs.map((r) => r.phase)).toEqual(["entry", "first-event", "ready"]);
    for (const r of recs) {
      expect(r.msg).toBe("boot");
      expect(typeof r.since_start_ms).toBe("number");
    }
  });
});
