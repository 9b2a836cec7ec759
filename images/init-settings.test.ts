// /init's reading of the kernel command line (images/init.sh, "settings" block), run by busybox sh
// (the guest's shell; the build machine's sh when the image cache has no busybox yet) on a made-up
// command line: cocos.NAME=VALUE becomes AGENT_NAME=VALUE, and a name that is not [A-Z0-9_] after
// upper-casing is refused with a console line instead of reaching the agent's environment.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const here = import.meta.dir;
const dir = mkdtempSync(join(tmpdir(), "cocos-init-settings-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function shell(): string[] {
  const cache = join(here, "cache", "root");
  try {
    const bb = readdirSync(cache).find((d) => d.startsWith("busybox-static"));
    if (bb) return [join(cache, bb, "bin", "busybox"), "sh"];
  } catch {}
  return ["/bin/sh"];
}

function runSettings(cmdline: string): { env: Record<string, string>; log: string[] } {
  const init = readFileSync(join(here, "init.sh"), "utf8");
  const block = /# settings: begin[^\n]*\n([\s\S]*?)# settings: end/.exec(init)?.[1];
  if (!block) throw new Error("expected a '# settings: begin' … '# settings: end' block in images/init.sh");
  const cmdFile = join(dir, "cmdline");
  writeFileSync(cmdFile, cmdline + "\n");
  const script = `log() { echo "LOG $*"; }\n${block.replaceAll("/proc/cmdline", cmdFile)}\nenv | grep '^AGENT_'; echo "RSS=$rss_after"\n`;
  const r = Bun.spawnSync([...shell(), "-c", script], { env: { PATH: "/usr/bin:/bin" }, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`settings block failed: ${r.stderr.toString()}`);
  const lines = r.stdout.toString().trim().split("\n");
  const env: Record<string, string> = {};
  for (const l of lines.filter((l) => !l.startsWith("LOG "))) env[l.slice(0, l.indexOf("="))] = l.slice(l.indexOf("=") + 1);
  return { env, log: lines.filter((l) => l.startsWith("LOG ")) };
}

test("cocos.* settings become AGENT_* variables; malformed names are refused, not exported", () => {
  const { env, log } = runSettings(
    "console=ttyS0 quiet cocos.attestation=host cocos.computation_id=iris-train cocos.grpc-port=7002 cocos.http.host=0.0.0.0 " +
      "cocos.log_level=a=b cocos_init.rss_after=3 cocos.Bad$=1 cocos.=x cocos.x;reboot=1 notcocos.y=2",
  );
  expect(env).toEqual({
    AGENT_ATTESTATION: "host",
    AGENT_COMPUTATION_ID: "iris-train",
    AGENT_GRPC_PORT: "7002",
    AGENT_HTTP_HOST: "0.0.0.0",
    AGENT_LOG_LEVEL: "a=b",
    RSS: "3",
  });
  expect(log).toEqual(["LOG ignoring malformed setting cocos.Bad$=1", "LOG ignoring malformed setting cocos.=x", "LOG ignoring malformed setting cocos.x;reboot=1"]);
});
