import { describe, expect, test } from "bun:test";
import { algoArgs } from "./computation.ts";
import { keepRepeatedHeaders } from "./grpc.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GuestOutput } from "./guest-output.ts";
import { budgetedSink, Logger, splitPieces } from "./log.ts";
import { StateError, StateMachine } from "./state.ts";

describe("state machine (Cocos transitions)", () => {
  test("with datasets", () => {
    const sm = new StateMachine(() => 2);
    const seen: string[] = [];
    sm.onTransition((to, from, ev) => seen.push(`${from}-${ev}->${to}`));
    for (const ev of ["Start", "ManifestReceived", "AlgorithmReceived", "DataReceived", "RunComplete", "ResultsConsumed"] as const) sm.send(ev);
    expect(seen).toEqual([
      "Idle-Start->ReceivingManifest",
      "ReceivingManifest-ManifestReceived->ReceivingAlgorithm",
      "ReceivingAlgorithm-AlgorithmReceived->ReceivingData",
      "ReceivingData-DataReceived->Running",
      "Running-RunComplete->ConsumingResults",
      "ConsumingResults-ResultsConsumed->Complete",
    ]);
  });

  test("without datasets the algorithm starts the run; invalid events throw and change nothing", () => {
    const sm = new StateMachine(() => 0);
    sm.send("Start");
    expect(() => sm.send("DataReceived")).toThrow(StateError);
    expect(sm.state).toBe("ReceivingManifest");
    sm.send("ManifestReceived");
    expect(sm.send("AlgorithmReceived")).toBe("Running");
    expect(sm.send("RunFailed")).toBe("Failed");
    expect(() => sm.send("ResultsConsumed")).toThrow(/no transition from state Failed/);
  });
});

describe("config", () => {
  test("defaults and Cocos names", () => {
    const c = loadConfig({}, "/w");
    expect(c.grpcPort).toBeUndefined();
    expect(c.logLevel).toBe("info");
    expect(c.workDir).toBe("/w");
    expect(c.httpPort).toBeUndefined();
    const d = loadConfig({ AGENT_GRPC_PORT: "7002", AGENT_GRPC_HOST: "0.0.0.0", AGENT_LOG_LEVEL: "debug", AGENT_VMPL: "0", AGENT_HTTP_PORT: "0" }, "/w");
    expect([d.grpcPort, d.grpcHost, d.logLevel, d.vmpl, d.httpPort]).toEqual([7002, "0.0.0.0", "debug", 0, 0]);
    expect(loadConfig({ AGENT_MAX_UNZIP_ENTRY_BYTES: "1048576" }).maxUnzipEntryBytes).toBe(1048576);
  });
  test("bad values say what was expected", () => {
    expect(() => loadConfig({ AGENT_GRPC_PORT: "seven" })).toThrow(/AGENT_GRPC_PORT must be an integer/);
    expect(() => loadConfig({ AGENT_VMPL: "4" })).toThrow(/AGENT_VMPL must be 0..3/);
    expect(() => loadConfig({ AGENT_LOG_LEVEL: "loud" })).toThrow(ConfigError);
    expect(() => loadConfig({ AGENT_HOST_CHANNEL: "unix" })).toThrow(/AGENT_MANIFEST_SOCKET/);
  });
});

describe("logs", () => {
  test("JSON lines, level filter, 500-character pieces", () => {
    const lines: string[] = [];
    const pieces: string[] = [];
    const log = new Logger("info", (l) => lines.push(l));
    log.addSink((_lvl, m) => pieces.push(...splitPieces(m)));
    log.debug("hidden");
    log.info("x".repeat(1234));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "INFO", msg: "x".repeat(1234) });
    expect(pieces.map((p) => p.length)).toEqual([500, 500, 234]);
    expect(splitPieces("é".repeat(501)).map((p) => Array.from(p).length)).toEqual([500, 1]);
  });

  test("the host sink is a token bucket: 524 288 records → burst pieces, then one summary, then the rate", () => {
    let clock = 0;
    const sent: string[] = [];
    const sink = budgetedSink((_l, p) => sent.push(p), { burst: 50, perSecond: 10, now: () => clock });
    for (let i = 0; i < 524_288; i++) sink("error", "");
    expect(sent).toHaveLength(50);
    clock += 1000; // 10 tokens back: the summary first, then new records again
    sink("info", "after");
    expect(sent.slice(50)).toEqual(["524238 log records dropped (the agent sends at most 50 pieces at once, then 10 per second)", "after"]);
    // A record of many pieces takes as many tokens; one too large to fit is dropped, not cut.
    clock += 1000;
    sink("info", "y".repeat(500 * 9));
    expect(sent).toHaveLength(52 + 9);
    sink("info", "z".repeat(500 * 60));
    expect(sent).toHaveLength(61);
  });
});

test("kept guest output: bounded, the excess noted; a link swapped in for a file is never followed", () => {
  const root = mkdtempSync(join(tmpdir(), "kept-"));
  try {
    const kept = new GuestOutput(join(root, "out"), 10);
    kept.line("stdout", "12345");
    kept.line("stderr", "abcdef"); // 6 + 7 bytes > 10: not kept
    writeFileSync(join(root, "secret"), "root:x:0:0");
    rmSync(join(root, "out", "stdout.txt"));
    symlinkSync(join(root, "secret"), join(root, "out", "stdout.txt"));
    const files = kept.contents();
    kept.close();
    const text = (n: string) => new TextDecoder().decode(files[n]);
    expect(text("stdout.txt")).toBe("12345\n");
    expect(text("stderr.txt")).toBe("");
    expect(text("agent-notes.txt")).toContain("guest output over 10 bytes: 7 more bytes were not kept");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("algo_args: binary values preferred; each text value is one argument, as grpc-go gives them", () => {
  expect(algoArgs({ "algo_args-bin": [Buffer.from("a, b"), Buffer.from("c")], algo_args: "a, b, c" })).toEqual(["a, b", "c"]);
  expect(algoArgs({ algo_args: ['{"a": 1, "b": 2}', "x"] })).toEqual(['{"a": 1, "b": 2}', "x"]);
  expect(algoArgs({ algo_args: "--a, 1" })).toEqual(["--a, 1"]);
  expect(algoArgs({})).toEqual([]);
});

test("repeated algo_args: the raw HTTP/2 list replaces the joined value; other headers stay joined", () => {
  const headers: Record<string, string | string[] | undefined> = { ":path": "/x", algo_args: '{"a": 1, "b": 2}, y', "signature-version": "1, 2", other: "p, q" };
  keepRepeatedHeaders(headers, [":path", "/x", "algo_args", '{"a": 1, "b": 2}', "ALGO_ARGS", "y", "signature-version", "1", "signature-version", "2", "other", "p, q"]);
  // A duplicated single-valued header still arrives joined, so its check refuses it.
  expect(headers).toEqual({ ":path": "/x", algo_args: ['{"a": 1, "b": 2}', "y"], "signature-version": "1, 2", other: "p, q" });
  keepRepeatedHeaders(headers, undefined); // a server without raw headers: nothing changes
  expect(headers.other).toBe("p, q");
});
