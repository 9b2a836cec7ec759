import { afterEach, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { strToU8 } from "fflate";
import { download, ed, metadata, startTestAgent, uploadAlgo, v1, type TestAgent } from "./testkit.ts";

const algoKey = ed();
const consumerKey = ed();
let t: TestAgent;
afterEach(() => t?.close());

test("a failing algorithm ends in Failed; Result reports the run error; stderr becomes Warning events", async () => {
  const script = strToU8("#!/bin/sh\necho 'bad things' >&2\nexit 3\n");
  t = await startTestAgent({ algorithm: script, algoKey, datasets: [], consumers: [consumerKey] });
  expect((await uploadAlgo(t, metadata({ ...v1(algoKey, "algorithm-provider"), algo_type: "bin" }), script)).code).toBe(grpc.status.OK);
  await t.waitForState("Failed");
  const r = await download(t, "Result", metadata(v1(consumerKey, "consumer")));
  expect(r.code).toBe(grpc.status.FAILED_PRECONDITION);
  expect(r.details).toContain("algorithm execution error: exit status 3");
  for (let i = 0; i < 100 && !t.events.some((e) => e.type === "Failed"); i++) await Bun.sleep(20);
  const seq = t.events.map((e) => `${e.type}/${e.status}`);
  expect(seq).toContain("AlgorithmRun/Warning");
  expect(seq.slice(-2)).toEqual(["Running/Failed", "Failed/Failed"]);
  expect(seq).not.toContain("ReceivingData/InProgress"); // no datasets: straight to Running
  expect(t.logs.some((l) => l.includes('"msg":"bad things"') && l.includes('"level":"ERROR"'))).toBe(true);
});
