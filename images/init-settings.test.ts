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

/** The "agent disk" block on a made-up command line, dmsetup/mount/poweroff/sleep replaced by lines
 *  saying what they were asked (and whether the disk "exists": /dev/vda stands for a test file). */
function runDisk(cmdline: string, opts: { disk: boolean; dmsetupFails?: boolean }): string[] {
  const init = readFileSync(join(here, "init.sh"), "utf8");
  const block = /# agent disk: begin[^\n]*\n([\s\S]*?)# agent disk: end/.exec(init)?.[1];
  if (!block) throw new Error("expected a '# agent disk: begin' … '# agent disk: end' block in images/init.sh");
  const vda = join(dir, "vda");
  const stubs = [
    'log() { echo "LOG $*"; }',
    `dmsetup() { echo "DMSETUP $*"; return ${opts.dmsetupFails ? 1 : 0}; }`,
    'mount() { echo "MOUNT $*"; }',
    "poweroff() { echo POWEROFF; exit 0; }",
    "sleep() { :; }",
    "cut() { echo 1.00; }",
  ].join("\n");
  // `[ -b /dev/vda ]`: a block device exists on the build machine only as a test stand-in.
  const body = block.replaceAll("-b /dev/vda ]", `-e ${vda} ]`);
  if (opts.disk) writeFileSync(vda, "");
  else rmSync(vda, { force: true });
  const r = Bun.spawnSync([...shell(), "-c", `${stubs}\ncmdline=" ${cmdline} "\n${body}\necho DONE`], { env: { PATH: "/usr/bin:/bin" }, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`agent disk block failed: ${r.stderr.toString()}`);
  return r.stdout.toString().trim().split("\n");
}

const root = "ab".repeat(32);
const salt = "cd".repeat(32);

test("cocos_init.verity opens /dev/vda as a read-only dm-verity device with exactly those parameters, then mounts it read-only", () => {
  const out = runDisk(`console=ttyS0 cocos_init.verity=41943,41943,blake2b-256,${root},${salt} cocos.x=1`, { disk: true });
  expect(out).toEqual([
    `DMSETUP create --noudevsync --readonly cocos-agent --table 0 335544 verity 1 /dev/vda /dev/vda 4096 4096 41943 41943 blake2b-256 ${root} ${salt} 1 try_verify_in_tasklet`,
    "MOUNT -t erofs -o ro /dev/mapper/cocos-agent /opt/cocos",
    "LOG agent disk open, uptime 1.00s",
    "DONE",
  ]);
  // No cocos_init.verity: the initramfs layout, nothing opened.
  expect(runDisk("console=ttyS0 cocos.x=1", { disk: true })).toEqual(["DONE"]);
});

test("a malformed cocos_init.verity, a missing disk or a refused verity table powers the VM off, saying what was expected", () => {
  const bads = [`1,1,blake2b-256,${root}`, `1,1,sha256,${root},${salt};reboot`, `1,1,sha256,${root},${salt},`, `1,1,sha256,${root},${salt},00`, `,1,sha256,${root},${salt}`, `1,1,SHA256,${root},${salt}`, `1,x,sha256,${root},${salt}`, `1,1,sha256,${root},zz`];
  for (const bad of bads) {
    const out = runDisk(`console=ttyS0 cocos_init.verity=${bad}`, { disk: true });
    expect(out[0], bad).toBe(`LOG cocos_init.verity: expected DATA_BLOCKS,HASH_START,HASH,ROOT_HASH,SALT (decimal, decimal, a hash name, hex, hex), got ${bad}; powering off`);
    expect(out[1], bad).toBe("POWEROFF");
  }
  const good = `cocos_init.verity=8,8,blake2b-256,${root},${salt}`;
  expect(runDisk(good, { disk: false })).toEqual(["LOG cannot open the agent disk: expected a virtio disk /dev/vda, the host attached none; powering off", "POWEROFF"]);
  const refused = runDisk(good, { disk: true, dmsetupFails: true });
  expect(refused[0]).toStartWith("DMSETUP create");
  expect(refused.slice(1)).toEqual([`LOG cannot open the agent disk (expected a virtio disk /dev/vda whose dm-verity root hash is ${root}); powering off`, "POWEROFF"]);
});
