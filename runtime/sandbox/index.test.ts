import { describe, expect, test } from "bun:test";
import { nativeIsolation, signalOfStatus } from "./index.ts";

describe("isolation policy", () => {
  test("sandbox when the tools are on PATH", () => {
    expect(nativeIsolation({ PATH: process.env.PATH }).kind).toBe(Bun.which("bwrap") ? "sandbox" : "refused");
  });

  test("refused without the tools; unsandboxed only with AGENT_UNSANDBOXED_NATIVE=true exactly", () => {
    expect(nativeIsolation({ PATH: "/nonexistent" })).toMatchObject({ kind: "refused" });
    expect(nativeIsolation({ PATH: "/nonexistent", AGENT_UNSANDBOXED_NATIVE: "1" })).toMatchObject({ kind: "refused" });
    expect(nativeIsolation({ PATH: "/nonexistent", AGENT_UNSANDBOXED_NATIVE: "true" })).toMatchObject({ kind: "unsandboxed" });
  });

  test("refused when the agent is not root, even with the tools present", () => {
    const isolation = nativeIsolation({ PATH: process.env.PATH }, 1000);
    expect(isolation.kind).toBe("refused");
    if (isolation.kind === "refused" && Bun.which("bwrap")) expect(isolation.reason).toContain("the agent runs as uid 1000, not root");
  });

  test("bwrap's 128 + n exit status maps back to signal n", () => {
    expect(signalOfStatus(128 + 11)).toBe("SIGSEGV");
    expect(signalOfStatus(128 + 31)).toBe("SIGSYS");
    expect(signalOfStatus(1)).toBeNull();
    expect(signalOfStatus(128)).toBeNull();
    expect(signalOfStatus(null)).toBeNull();
  });
});
