import { describe, expect, test } from "bun:test";
import { loadManagerConfig } from "./config.ts";
import { parsePortRange } from "./ports.ts";

describe("manager config", () => {
  test("defaults are the original's", () => {
    const c = loadManagerConfig({}, "/srv");
    expect(c.grpcUrl).toBe("localhost:7001");
    expect(c.grpcTimeoutMs).toBe(60_000);
    expect(c.runReqTimeoutMs).toBe(30_000);
    expect(c.stopGraceMs).toBe(30_000);
    expect(c.stateDir).toBe("/srv/.cocos/manager");
    expect(c.qemuSmpCount).toBe(4);
    expect(c.qemuCpu).toBe("EPYC");
    expect(c.httpPort).toBe(7003);
    expect(c.httpHost).toBe("127.0.0.1"); // loopback only unless asked
    expect(c.httpToken).toBe("");
    expect(c.backend).toBe("auto");
    expect([c.runReqMaxBytes, c.runReqMaxTotalBytes, c.runReqMaxPending]).toEqual([64 << 20, 128 << 20, 8]);
    expect([c.simReportRate, c.simReportBurst]).toEqual([10, 20]);
  });

  test("env overrides and refusals say what was expected", () => {
    const c = loadManagerConfig({ MANAGER_GRPC_URL: "cs:9000", MANAGER_HTTP_PORT: "off", MANAGER_VM_TTL: "1m30s", MANAGER_BACKEND: "process" });
    expect(c.grpcUrl).toBe("cs:9000");
    expect(c.httpPort).toBeNull();
    expect(c.vmTtlMs).toBe(90_000);
    const d = loadManagerConfig({ MANAGER_HTTP_ALLOWED_HOSTS: " mgr.internal, ,other ", MANAGER_RUN_REQ_MAX_PENDING: "2", MANAGER_SIM_REPORT_RATE: "1" });
    expect(d.httpAllowedHosts).toEqual(["mgr.internal", "other"]);
    expect([d.runReqMaxPending, d.simReportRate]).toEqual([2, 1]);
    expect(() => loadManagerConfig({ MANAGER_BACKEND: "firecracker" })).toThrow('MANAGER_BACKEND: expected process, qemu or auto, got "firecracker"');
    expect(() => loadManagerConfig({ MANAGER_QEMU_SMP_COUNT: "-1" })).toThrow(/non-negative integer/);
    expect(() => loadManagerConfig({ MANAGER_GRPC_TIMEOUT: "soon" })).toThrow(/expected a duration/);
  });

  test("port ranges", () => {
    expect(parsePortRange("6100-6200")).toEqual([6100, 6200]);
    expect(() => parsePortRange("6200-6100")).toThrow(/start ≤ end/);
    expect(() => parsePortRange("61x")).toThrow(/START-END/);
  });
});
