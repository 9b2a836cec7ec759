import { describe, expect, test } from "bun:test";
import { attributeEvent, guestDetails, guestName, guestText } from "./guest-records.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe("guest records", () => {
  test("JSON details stay JSON, with controls escaped inside strings; other details are escaped text", () => {
    const d = dec(guestDetails(enc('{\n  "msg": "a\\u001b[2Jb\u0085c"\n}')));
    expect(d).toBe('{"msg":"a\\u001b[2Jb\\u0085c"}');
    expect(JSON.parse(d).msg).toBe("a\x1b[2Jb\u0085c");
    expect(dec(guestDetails(enc("not json\x1b[0m")))).toBe("not json\\x1b[0m");
    expect(dec(guestDetails(enc("y".repeat(50_000)))).length).toBeLessThan(4200);
  });

  test("names outside [A-Za-z][A-Za-z0-9_]* are marked invalid; long text is cut and says so", () => {
    expect(guestName("InProgress")).toBe("InProgress");
    expect(guestName("Ready\n2026 fake line")).toBe("invalid(Ready\\x0a2026 fake line)");
    expect(guestText("abcdef", 3)).toBe("abc…(3 more characters cut)");
  });

  test("the VM's computation id and originator agent replace whatever the guest wrote", () => {
    const e = attributeEvent("mine", { event_type: "Running", status: "Completed", computation_id: "theirs", originator: "manager", details: new Uint8Array(0), timestamp: { seconds: 1, nanos: 0 } });
    expect(e).toMatchObject({ computation_id: "mine", originator: "agent", event_type: "Running", status: "Completed" });
  });
});
