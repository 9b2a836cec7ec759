// Stand-in agent for a manual boot check of the native sandbox inside the guest image: runs one
// `bin` algorithm through the real bin runner (bwrap, setpriv, prlimit from the image) and prints
// what it could and could not do as one "SANDBOX-CHECK {json}" console line, then exits (the VM
// powers off). Build an image around it with `bun images/build.ts --agent <compiled>`.
import { mkdir, writeFile } from "node:fs/promises";
import { binRunner } from "../../runtime/runners/bin.ts";
import { makeWorkDir, marker, processesWith } from "../../runtime/runners/testing.ts";

const secretDir = "/cocos/agent-state";
await mkdir(secretDir, { recursive: true });
await writeFile(`${secretDir}/tls.key`, "GUEST-AGENT-TLS-KEY", { mode: 0o600 });
const mark = marker();
const w = await makeWorkDir(
  `#!/bin/sh
grep -E '^(Uid|CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t ' ' '
echo "root: $(ls / | tr '\\n' ' ')"
echo "key: $(cat ${secretDir}/tls.key 2>&1)"
echo "init-environ: $(cat /proc/1/environ 2>&1 | tr '\\0' ' ')"
echo "net: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ')"
echo "data: $(cat datasets/in.txt)"
echo out > results/out.txt && echo "results: written"
setsid sleep "$1" >/dev/null 2>&1 &
exit 7
`,
  { "in.txt": "guest-dataset" },
);
const unavailable = await binRunner.unavailable();
const outcome = await binRunner.run(w.spec("bin", { args: [mark], limits: { timeoutMs: 30_000 } }));
const report = { unavailable, outcome, logs: w.logs.map((l) => `${l.stream}: ${l.line}`), daemonsLeft: processesWith(mark).length };
console.log(`SANDBOX-CHECK ${JSON.stringify(report)}`);
process.exit(0);
