import { expect, test } from "bun:test";
import { nextRunState, peerHost, policyMismatch } from "./managers.ts";

test("run state follows the agent's and the manager's events; an ended run stays ended", () => {
  expect(nextRunState("running", "ConsumingResults", "Ready")).toBe("results_ready");
  expect(nextRunState("results_ready", "Complete", "Completed")).toBe("completed");
  expect(nextRunState("running", "Running", "Failed")).toBe("failed");
  expect(nextRunState("starting", "VmProvision", "Failed")).toBe("failed");
  expect(nextRunState("stopping", "StopComputationRun", "Completed")).toBe("stopped");
  expect(nextRunState("stopping", "Running", "Stopped")).toBe("stopped");
  expect(nextRunState("running", "Running", "Stopped")).toBe("failed");
  expect(nextRunState("completed", "StopComputationRun", "Completed")).toBeNull();
  expect(nextRunState("running", "Running", "InProgress")).toBeNull();
});

test("peer strings give the host", () => {
  expect(peerHost("127.0.0.1:5000")).toBe("127.0.0.1");
  expect(peerHost("ipv4:10.0.0.2:5000")).toBe("10.0.0.2");
  expect(peerHost("[::1]:5000")).toBe("::1");
});

test("a policy pinning another manifest's host_data is refused; one without host_data is kept", () => {
  const hash = "ab".repeat(32);
  expect(policyMismatch(JSON.stringify({ policy: { host_data: Buffer.from(hash, "hex").toString("base64") } }), hash)).toBe("");
  expect(policyMismatch(JSON.stringify({ policy: { host_data: Buffer.alloc(32).toString("base64") } }), hash)).toContain("not this run's manifest hash");
  expect(policyMismatch("{}", hash)).toBe("");
  expect(policyMismatch("not json", hash)).toContain("expected JSON");
});
