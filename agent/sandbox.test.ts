// Through the real agent: a `bin` algorithm runs sandboxed and cannot read the agent's work
// directory (a planted TLS key, the host-channel sockets, the manifest), nor the agent's /proc.
import { afterEach, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { strToU8, unzipSync } from "fflate";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { findSandboxTools } from "../runtime/sandbox/index.ts";
import { download, ed, metadata, startTestAgent, uploadAlgo, uploadData, v1, type TestAgent } from "./testkit.ts";

const algoKey = ed();
const dataKey = ed();
const consumerKey = ed();
const KEY = "AGENT-TLS-KEY-SHOULD-STAY-IN-THE-AGENT";
let t: TestAgent;
afterEach(() => t?.close());

// $1 = the agent's work dir (host path), $2 = the agent's pid.
const script = strToU8(`#!/bin/sh
{
  echo "key: $(cat "$1/agent-tls.key" 2>&1)"
  echo "workdir: $(ls -a "$1" 2>&1)"
  echo "environ: $(cat /proc/$2/environ 2>&1)"
  echo "data: $(cat datasets/in.csv)"
  echo "uid: $(id -u)"
} > results/probe.txt
ln -s "$1/agent-tls.key" results/key-link
`);

test.skipIf(Array.isArray(findSandboxTools()))("a bin algorithm run by the agent cannot read the agent's work dir or /proc", async () => {
  const csv = strToU8("a,b\n1,2\n");
  t = await startTestAgent({ algorithm: script, algoKey, datasets: [{ bytes: csv, filename: "in.csv", key: dataKey }], consumers: [consumerKey] });
  writeFileSync(join(t.dir, "agent-tls.key"), KEY, { mode: 0o600 });
  const algoMd = metadata({ ...v1(algoKey, "algorithm-provider"), algo_type: "bin", algo_args: [t.dir, String(process.pid)] });
  expect((await uploadAlgo(t, algoMd, script)).code).toBe(grpc.status.OK);
  expect((await uploadData(t, metadata({ ...v1(dataKey, "data-provider") }), "in.csv", csv)).code).toBe(grpc.status.OK);
  await t.waitForState("ConsumingResults");
  const r = await download(t, "Result", metadata(v1(consumerKey, "consumer")));
  expect(r.code).toBe(grpc.status.OK);
  const files = unzipSync(new Uint8Array(r.bytes));
  const probe = new TextDecoder().decode(files["probe.txt"]!);
  expect(probe).toContain("data: a,b");
  expect(probe).toContain("uid: 65534");
  expect(probe).toContain("key: cat: ");
  expect(probe).toContain("No such file or directory");
  expect(probe).not.toContain(KEY);
  expect(probe).not.toContain("m.sock");
  expect(probe).not.toContain("PATH=");
  // The symlink the algorithm left is not followed into the result.
  expect(Object.keys(files)).not.toContain("key-link");
  for (const bytes of Object.values(files)) expect(new TextDecoder().decode(bytes)).not.toContain(KEY);
});
