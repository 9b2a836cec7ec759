// The run as the host sees it: guest stdout/stderr stay in the agent unless the manifest opts in, the
// host channel gets a bounded number of log records, results never carry links, failures are told
// as fixed summaries.
import { afterEach, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { strToU8, unzipSync } from "fflate";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Runner, RunOutcome, RunSpec } from "../runtime/types.ts";
import { GUEST_OUTPUT_DIR } from "./guest-output.ts";
import { printerWasm } from "./testdata/printer.ts";
import { download, ed, metadata, startTestAgent, uploadAlgo, uploadData, v1, type TestAgent } from "./testkit.ts";

const algoKey = ed();
const dataKey = ed();
const consumerKey = ed();
const MARKER = "patient-7f3a9c-SECRET-ROW";
const dataset = strToU8(`id,value\n1,${MARKER}\n`);
let t: TestAgent;
afterEach(() => t?.close());

const algoMd = (type: string, args: string[] = []) => metadata({ ...v1(algoKey, "algorithm-provider"), algo_type: type, ...(args.length ? { algo_args: args } : {}) });

/** Everything that left the agent for the host: its stdout log lines, AgentLog records, events. */
function hostView(): string {
  return [...t.logs, ...t.hostLogs.map((l) => l.message), ...t.events.map((e) => `${e.type}/${e.status}`)].join("\n");
}

async function results(): Promise<Record<string, Uint8Array>> {
  const r = await download(t, "Result", metadata(v1(consumerKey, "consumer")));
  expect(r.code).toBe(grpc.status.OK);
  return unzipSync(new Uint8Array(r.bytes));
}

const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

const script = strToU8("#!/bin/sh\n"); // never run: the stand-in runner acts instead

/** An agent whose runner is a stand-in doing `act` (files in results, onLog lines, an outcome); ran to its end state. */
async function runFake(act: (spec: RunSpec) => RunOutcome, guestOutput?: "results", end = "ConsumingResults"): Promise<void> {
  const runnerFor = (): Runner => ({ type: "bin", unavailable: async () => null, run: async (spec) => act(spec) });
  t = await startTestAgent({ algorithm: script, algoKey, datasets: [], consumers: [consumerKey], guestOutput, runnerFor });
  expect((await uploadAlgo(t, algoMd("bin"), script)).code).toBe(grpc.status.OK);
  await t.waitForState(end);
}

async function runWasm(args: string[], guestOutput?: "keep" | "results" | "forward", withData = true): Promise<void> {
  const wasm = printerWasm();
  t = await startTestAgent({ algorithm: wasm, algoKey, datasets: withData ? [{ bytes: dataset, filename: "rows.csv", key: dataKey }] : [], consumers: [consumerKey], guestOutput });
  expect(await uploadAlgo(t, algoMd("wasm", args), wasm)).toEqual({ code: grpc.status.OK, details: "" });
  if (withData) expect((await uploadData(t, metadata(v1(dataKey, "data-provider")), "rows.csv", dataset)).code).toBe(grpc.status.OK);
  await t.waitForState("ConsumingResults", 60_000);
}

describe("guest output stays inside the enclave", () => {
  test("default (keep): a dataset row printed to stdout and stderr reaches no log, record or event; the agent keeps it", async () => {
    await runWasm([]);
    expect(hostView()).not.toContain(MARKER);
    expect(hostView()).toContain("computation run completed");
    expect(t.events.filter((e) => e.type === "AlgorithmRun" && e.status === "Warning")).toHaveLength(1); // one per run, not per line
    const files = await results();
    expect(Object.keys(files)).toEqual(["out.txt"]);
    expect(text(files["out.txt"])).toBe("2 lines\n");
    expect(readFileSync(join(t.dir, "guest-output", "stdout.txt"), "utf8")).toContain(MARKER);
    expect(readFileSync(join(t.dir, "guest-output", "stderr.txt"), "utf8")).toBe(`id,value\n1,${MARKER}\n`);
  }, 90_000);

  test(`"results": the kept output is in the archive under ${GUEST_OUTPUT_DIR}/, still not on the host`, async () => {
    await runWasm([], "results");
    expect(hostView()).not.toContain(MARKER);
    const files = await results();
    expect(Object.keys(files).sort()).toEqual([`${GUEST_OUTPUT_DIR}/agent-notes.txt`, `${GUEST_OUTPUT_DIR}/stderr.txt`, `${GUEST_OUTPUT_DIR}/stdout.txt`, "out.txt"]);
    expect(text(files[`${GUEST_OUTPUT_DIR}/stdout.txt`])).toBe(`id,value\n1,${MARKER}\n`);
  }, 90_000);

  test(`"forward" (opt-in): the lines reach the host`, async () => {
    await runWasm([], "forward");
    expect(t.hostLogs.some((l) => l.message.includes(MARKER) && l.level === "ERROR")).toBe(true);
  }, 90_000);
});

describe("log records to the host are bounded", () => {
  const FLOOD = String(512 * 1024);

  test("0.5 MiB of empty stderr lines: no guest record at all by default", async () => {
    await runWasm(["flood", FLOOD], "keep", false);
    expect(t.hostLogs.filter((l) => l.message.includes('"stream"'))).toHaveLength(0);
    expect(t.hostLogs.length).toBeLessThan(60);
    expect(readFileSync(join(t.dir, "guest-output", "stderr.txt")).length).toBe(512 * 1024);
  }, 90_000);

  test("0.5 MiB of empty stderr lines forwarded: the burst (200) plus 20 a second, then one summary — not 524 288", async () => {
    const started = performance.now();
    await runWasm(["flood", FLOOD], "forward", false);
    for (let i = 0; i < 200 && !t.hostLogs.some((l) => l.message.includes("log records dropped")); i++) await Bun.sleep(20);
    const seconds = (performance.now() - started) / 1000;
    const bytes = t.hostLogs.reduce((n, l) => n + l.message.length, 0);
    if (process.env.TEST_DEBUG) console.log(`${t.hostLogs.length} records, ${bytes} bytes in ${seconds.toFixed(1)} s`);
    // The bucket's own ceiling for the elapsed time (never reached by a timing accident).
    const ceiling = 200 + Math.ceil(20 * seconds) + 1;
    expect(t.hostLogs.length).toBeLessThanOrEqual(ceiling);
    expect(bytes).toBeLessThanOrEqual(ceiling * 500);
    expect(t.hostLogs.some((l) => /\d+ log records dropped/.test(l.message))).toBe(true);
  }, 90_000);
});

describe("results archive and failures", () => {
  test("a symlink the guest leaves in results (evil -> /etc/passwd) is dropped, and the drop is noted", async () => {
    await runFake((spec) => {
      writeFileSync(join(spec.resultsDir, "ok.txt"), "fine");
      symlinkSync("/etc/passwd", join(spec.resultsDir, "evil"));
      writeFileSync(join(spec.resultsDir, "x"), "");
      return { kind: "exit", code: 0, durationMs: 1 };
    }, "results");
    const files = await results();
    expect(Object.keys(files).filter((n) => !n.startsWith(GUEST_OUTPUT_DIR)).sort()).toEqual(["ok.txt", "x"]);
    expect(text(files[`${GUEST_OUTPUT_DIR}/agent-notes.txt`])).toContain(`results entry "evil" left out of the archive: symbolic link`);
    for (const b of Object.values(files)) expect(text(b)).not.toContain("root:x:0:0");
  });

  test(`the algorithm's own ${GUEST_OUTPUT_DIR}/ cannot pose as the kept output`, async () => {
    await runFake((spec) => {
      spec.onLog?.("stdout", "real line");
      mkdirSync(join(spec.resultsDir, GUEST_OUTPUT_DIR));
      writeFileSync(join(spec.resultsDir, GUEST_OUTPUT_DIR, "stdout.txt"), "forged");
      return { kind: "exit", code: 0, durationMs: 1 };
    }, "results");
    const files = await results();
    expect(text(files[`${GUEST_OUTPUT_DIR}/stdout.txt`])).toBe("real line\n");
    expect(text(files[`${GUEST_OUTPUT_DIR}/agent-notes.txt`])).toContain("reserved name");
  });

  test("a runtime message quoting guest text (trap) reaches the host and the consumer only as a fixed summary", async () => {
    await runFake(() => ({ kind: "trap", message: `Error: ${MARKER}`, durationMs: 1 }), undefined, "Failed");
    const r = await download(t, "Result", metadata(v1(consumerKey, "consumer")));
    expect(r.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(r.details).toContain("algorithm execution error: the algorithm trapped");
    expect(r.details).not.toContain(MARKER);
    for (let i = 0; i < 100 && !t.events.some((e) => e.type === "Failed"); i++) await Bun.sleep(20);
    expect(hostView()).not.toContain(MARKER);
    expect(hostView()).toContain("the algorithm trapped");
    expect(readFileSync(join(t.dir, "guest-output", "agent-notes.txt"), "utf8")).toContain(MARKER);
  });

  test("a failing algorithm ends in Failed; Result reports the exit status; stderr stays inside", async () => {
    const sh = strToU8("#!/bin/sh\necho 'bad things' >&2\nexit 3\n");
    t = await startTestAgent({ algorithm: sh, algoKey, datasets: [], consumers: [consumerKey] });
    expect((await uploadAlgo(t, algoMd("bin"), sh)).code).toBe(grpc.status.OK);
    await t.waitForState("Failed");
    const r = await download(t, "Result", metadata(v1(consumerKey, "consumer")));
    expect(r.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(r.details).toContain("algorithm execution error: exit status 3");
    for (let i = 0; i < 100 && !t.events.some((e) => e.type === "Failed"); i++) await Bun.sleep(20);
    const seq = t.events.map((e) => `${e.type}/${e.status}`);
    expect(seq).toContain("AlgorithmRun/Warning");
    expect(seq.slice(-2)).toEqual(["Running/Failed", "Failed/Failed"]);
    expect(seq).not.toContain("ReceivingData/InProgress"); // no datasets: straight to Running
    expect(hostView()).not.toContain("bad things");
    expect(readFileSync(join(t.dir, "guest-output", "stderr.txt"), "utf8")).toBe("bad things\n");
  });
});
