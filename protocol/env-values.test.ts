import { describe, expect, test } from "bun:test";
import { parseDurationMs, parseGoBool } from "./env-values.ts";

describe("Go-style configuration values", () => {
  test("durations: units, compound values, bare seconds; anything else is refused by name", () => {
    expect(parseDurationMs("500ms", "x")).toBe(500);
    expect(parseDurationMs("1m30s", "x")).toBe(90_000);
    expect(parseDurationMs("2h", "x")).toBe(7_200_000);
    expect(parseDurationMs("3", "x")).toBe(3000);
    expect(() => parseDurationMs("soon", "MANAGER_GRPC_TIMEOUT")).toThrow('MANAGER_GRPC_TIMEOUT: expected a duration like 60s, 1m30s or 500ms, got "soon"');
    expect(() => parseDurationMs("10x", "x")).toThrow(/expected a duration/);
  });

  test("booleans as strconv.ParseBool reads them", () => {
    for (const t of ["1", "t", "T", "TRUE", "true", "True"]) expect(parseGoBool(t, "x")).toBe(true);
    for (const f of ["0", "f", "F", "FALSE", "false", "False"]) expect(parseGoBool(f, "x")).toBe(false);
    expect(() => parseGoBool("yes", "AGENT_GRPC_ATTESTED_TLS")).toThrow('AGENT_GRPC_ATTESTED_TLS: expected a boolean (true/false/1/0/t/f), got "yes"');
  });
});
