// Adversary tests of the native sandbox: a compiled probe (runtime/sandbox/testdata/probe.c) runs as
// a `bin` algorithm and tries one thing each; each must be refused. Positive controls show the
// algorithm still reads its datasets, writes results and reports its status and output.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rm, stat, symlink, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findSandboxTools } from "../sandbox/index.ts";
import type { RunOutcome } from "../types.ts";
import { binRunner } from "./bin.ts";
import { makeWorkDir, marker, processesWith, show, type WorkDir } from "./testing.ts";

const tools = findSandboxTools();
const cc = Bun.which("cc");
const skip = Array.isArray(tools) || !cc;
if (skip) console.warn(`sandbox tests skipped: ${Array.isArray(tools) ? `${tools.join(", ")} missing` : "no C compiler"}`);

const SECRETS = {
  agentKey: "AGENT-TLS-PRIVATE-KEY-0123",
  simRootKey: "SIM-ROOT-PRIVATE-KEY-4567",
  otherComputation: "OTHER-COMPUTATION-DATASET-89",
  env: "AGENT-ENVIRON-SECRET-abcdef",
};

let scratch: string;
let probe: Uint8Array;
let other: WorkDir;
let simKey: string;
let server: Bun.TCPSocketListener | undefined;
let accepted = 0;
const dirs: WorkDir[] = [];

beforeAll(async () => {
  if (skip) return;
  scratch = await mkdtemp(join(tmpdir(), "cocos-sandbox-test-"));
  const out = join(scratch, "probe");
  const built = Bun.spawnSync([cc!, "-O1", "-o", out, join(import.meta.dir, "../sandbox/testdata/probe.c")], { stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`cc probe.c failed: ${built.stderr.toString()}`);
  probe = new Uint8Array(await readFile(out));
  // A sibling state directory holding the simulated root's private key.
  await mkdir(join(scratch, "sim-state"), { mode: 0o700 });
  simKey = join(scratch, "sim-state", "root.key");
  await writeFile(simKey, SECRETS.simRootKey, { mode: 0o600 });
  other = await makeWorkDir("#!/bin/sh\n", { "secret.csv": SECRETS.otherComputation });
  process.env.COCOS_SANDBOX_TEST_SECRET = SECRETS.env;
  server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => void accepted++, data() {} } });
});

afterAll(async () => {
  delete process.env.COCOS_SANDBOX_TEST_SECRET;
  server?.stop(true);
  for (const w of [...dirs, ...(other ? [other] : [])]) await w.remove();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A work dir whose algorithm is the probe, with an agent key planted in the agent's work dir. */
async function probeDir(datasets: Record<string, string> = { "in.txt": "dataset-bytes" }): Promise<WorkDir & { agentKey: string }> {
  const w = await makeWorkDir(probe, datasets);
  dirs.push(w);
  const agentKey = join(w.dir, "agent-tls.key");
  await writeFile(agentKey, SECRETS.agentKey, { mode: 0o600 });
  return { ...w, agentKey };
}

async function run(what: string, arg?: string, w?: WorkDir): Promise<{ outcome: RunOutcome; out: string; w: WorkDir }> {
  const dir = w ?? (await probeDir());
  const outcome = await binRunner.run(dir.spec("bin", { args: arg === undefined ? [what] : [what, arg], limits: { timeoutMs: 20_000 } }));
  return { outcome, out: dir.logs.map((l) => l.line).join("\n"), w: dir };
}

function expectDenied(r: { outcome: RunOutcome; out: string }, what: string, errno?: string) {
  expect(r.outcome, `${show(r.outcome)} ${r.out}`).toMatchObject({ kind: "exit", code: 1 });
  expect(r.out).toContain(`${what}: denied${errno ? ` ${errno}` : ""}`);
  for (const secret of Object.values(SECRETS)) expect(r.out).not.toContain(secret);
}

describe.skipIf(skip)("native sandbox: the algorithm cannot reach the agent or the host", () => {
  test("positive control: reads its datasets, writes results (owned by the agent afterwards), exit status and output arrive", async () => {
    const w = await probeDir();
    const read = await run("read", "/datasets/in.txt", w);
    expect(read.outcome).toMatchObject({ kind: "exit", code: 0 });
    expect(w.logs).toContainEqual({ stream: "stdout", line: "content: dataset-bytes" });
    const wrote = await run("write", "results/out.txt", w); // relative: cwd is /, as in the Cocos layout
    expect(wrote.outcome, wrote.out).toMatchObject({ kind: "exit", code: 0 });
    expect(await readFile(join(w.resultsDir, "out.txt"), "utf8")).toBe("written\n");
    expect((await stat(join(w.resultsDir, "out.txt"))).uid).toBe(process.getuid!());
    expect((await stat(w.resultsDir)).uid).toBe(process.getuid!());
    const unknown = await run("no-such-probe", undefined, w);
    expect(unknown.outcome).toMatchObject({ kind: "exit", code: 2 });
    expect(w.logs).toContainEqual({ stream: "stderr", line: "unknown probe no-such-probe" });
  });

  test("runs as uid 65534 without capabilities, no-new-privs, seccomp on; root holds only its own things; only lo", async () => {
    const w = await makeWorkDir(
      "#!/bin/sh\ngrep -E '^(Uid|Gid|Groups|CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status\necho root: $(ls /)\necho net: $(tail -n +3 /proc/net/dev | cut -d: -f1)\necho etc: $(ls /etc)\ntouch /dev/shm/s && echo shm: writable\n",
    );
    dirs.push(w);
    const outcome = await binRunner.run(w.spec("bin"));
    expect(outcome).toMatchObject({ kind: "exit", code: 0 });
    const lines = w.logs.map((l) => l.line.replace(/\s+/g, " ").trim());
    expect(lines).toContain("Uid: 65534 65534 65534 65534");
    expect(lines).toContain("Gid: 65534 65534 65534 65534");
    expect(lines).toContain("Groups:");
    expect(lines).toContain("CapEff: 0000000000000000");
    expect(lines).toContain("CapPrm: 0000000000000000");
    expect(lines).toContain("CapBnd: 0000000000000000");
    expect(lines).toContain("NoNewPrivs: 1");
    expect(lines).toContain("Seccomp: 2");
    const root = lines.find((l) => l.startsWith("root:"))!.split(" ").slice(1);
    expect(root.filter((e) => !["bin", "lib", "lib32", "lib64", "libx32", "sbin", "usr"].includes(e)).sort()).toEqual(
      ["algo", "datasets", "dev", "etc", "proc", "results", "tmp"],
    );
    expect(lines).toContain("net: lo");
    expect(lines).toContain("shm: writable");
    const etc = lines.find((l) => l.startsWith("etc:"))!.split(" ").slice(1);
    expect(etc).toContain("ld.so.cache"); // /etc is searchable, and holds only what was bound
    expect(etc.filter((e) => e !== "alternatives" && e !== "ld.so.cache")).toEqual([]);
  });

  test("rlimits apply inside: processes, open files, CPU seconds, file size = results cap, address space = memory cap", async () => {
    const w = await makeWorkDir("#!/bin/sh\ncat /proc/self/limits\n");
    dirs.push(w);
    const limits = { timeoutMs: 5_000, memoryBytes: 512 * 1024 ** 2, maxResultsBytes: 8 * 1024 ** 2 };
    expect(await binRunner.run(w.spec("bin", { limits }))).toMatchObject({ kind: "exit", code: 0 });
    const row = (name: string) => w.logs.map((l) => l.line).find((l) => l.startsWith(name))?.slice(26).trim().split(/\s+/).slice(0, 2);
    expect(row("Max processes")).toEqual(["512", "512"]);
    expect(row("Max open files")).toEqual(["1024", "1024"]);
    expect(row("Max cpu time")).toEqual(["5", "6"]);
    expect(row("Max file size")).toEqual([String(8 * 1024 ** 2), String(8 * 1024 ** 2)]);
    expect(row("Max address space")).toEqual([String(512 * 1024 ** 2), String(512 * 1024 ** 2)]);
  });

  test("cannot read the agent's memory or environment through /proc", async () => {
    expectDenied(await run("read", `/proc/${process.pid}/mem`), "read");
    expectDenied(await run("read", `/proc/${process.pid}/environ`), "read");
  });

  test("cannot read the agent's TLS key in its work dir, the sim root's key, another computation's folder, /etc/shadow", async () => {
    const w = await probeDir();
    expectDenied(await run("read", w.agentKey, w), "read", "ENOENT");
    expectDenied(await run("read", simKey), "read", "ENOENT");
    expectDenied(await run("read", join(other.datasetsDir, "secret.csv")), "read", "ENOENT");
    expectDenied(await run("read", "/etc/shadow"), "read", "ENOENT");
  });

  test("cannot write into its datasets or its own algorithm", async () => {
    const w = await probeDir();
    expectDenied(await run("write", "/datasets/in.txt", w), "write", "EROFS");
    expectDenied(await run("write", "/datasets/new.txt", w), "write", "EROFS");
    expectDenied(await run("write", "/algo", w), "write");
    expect(await readFile(join(w.datasetsDir, "in.txt"), "utf8")).toBe("dataset-bytes");
  });

  test("cannot connect to a server on the agent's 127.0.0.1", async () => {
    const before = accepted;
    expectDenied(await run("connect", String(server!.port)), "connect");
    expect(accepted).toBe(before);
  });

  test("cannot ptrace the agent (not even see it)", async () => {
    expectDenied(await run("ptrace-attach", String(process.pid)), "ptrace-attach");
  });

  // Each of these succeeds for an unprivileged process without the seccomp filter (see probe.c).
  test.each([
    ["ptrace-traceme", "EPERM"],
    ["vm-read", "EPERM"],
    ["unshare-user", "EPERM"],
    ["clone-newuser", "EPERM"],
    ["keyctl", "EPERM"],
    ["personality", "EPERM"],
    ["io-uring", "EPERM"],
    ["bpf", "EPERM"],
    ["mount", "EPERM"],
    ["x32", "EPERM"],
    ["clone3", "ENOSYS"],
  ])("seccomp refuses %s with %s", async (what, errno) => {
    expectDenied(await run(what), what, errno);
  });

  test("a plain fork still works (clone without namespace flags)", async () => {
    const r = await run("fork");
    expect(r.outcome, r.out).toMatchObject({ kind: "exit", code: 0 });
    expect(r.out).toContain("fork: allowed");
  });

  test("a system call through the i386 entry (int 0x80) kills the process", async () => {
    const r = await run("int80");
    expect(r.outcome, r.out).toMatchObject({ kind: "trap", message: "terminated by signal SIGSYS" });
  });

  test("a setsid() double-forked daemon does not outlive the run", async () => {
    const mark = marker();
    const r = await run("daemon", mark);
    expect(r.outcome, r.out).toMatchObject({ kind: "exit", code: 0 });
    expect(processesWith(mark)).toEqual([]);
  });

  test("a symlink the algorithm leaves in results points nowhere the agent follows", async () => {
    const w = await makeWorkDir(`#!/bin/sh\nln -s ${simKey} results/leak\nexit 0\n`);
    dirs.push(w);
    expect(await binRunner.run(w.spec("bin"))).toMatchObject({ kind: "exit", code: 0 });
    // Ownership is reclaimed with lchown: the sim key itself is untouched.
    expect((await stat(simKey)).uid).toBe(process.getuid!());
    expect((await stat(simKey)).mode & 0o777).toBe(0o600);
  });
});

describe("native sandbox: refused without bubblewrap unless explicitly opted out", () => {
  const script = `
    import { binRunner } from "./runtime/runners/bin.ts";
    import { makeWorkDir } from "./runtime/runners/testing.ts";
    const w = await makeWorkDir("#!/bin/sh\\necho ran-unsandboxed\\n");
    const outcome = await binRunner.run(w.spec("bin"));
    console.log(JSON.stringify({ unavailable: await binRunner.unavailable(), outcome, logs: w.logs }));
    await w.remove();
  `;
  async function withoutBwrap(env: Record<string, string>) {
    const empty = await mkdtemp(join(tmpdir(), "cocos-no-bwrap-"));
    try {
      // PATH holds sh (for the script) but not bwrap: a directory with only a link to /bin/sh.
      await symlink("/bin/sh", join(empty, "sh"));
      const proc = Bun.spawn([process.execPath, "-e", script], {
        cwd: join(import.meta.dir, "../.."),
        env: { PATH: empty, ...env },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, err] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
      return { ...(JSON.parse(out.trim().split("\n").at(-1)!) as { unavailable: string | null; outcome: RunOutcome; logs: { line: string }[] }), stderr: err };
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  }

  test("default: the runner reports itself unavailable and a run is refused, nothing executes", async () => {
    const r = await withoutBwrap({});
    expect(r.unavailable).toContain("bwrap, setpriv, prlimit not found on PATH");
    expect(r.unavailable).toContain("AGENT_UNSANDBOXED_NATIVE=true");
    expect(r.outcome).toMatchObject({ kind: "error" });
    expect(r.logs.map((l) => l.line)).not.toContain("ran-unsandboxed");
  });

  test("AGENT_UNSANDBOXED_NATIVE=true: runs unsandboxed with a loud warning", async () => {
    const r = await withoutBwrap({ AGENT_UNSANDBOXED_NATIVE: "true" });
    expect(r.unavailable).toBeNull();
    expect(r.outcome).toMatchObject({ kind: "exit", code: 0 });
    expect(r.logs.map((l) => l.line)).toContain("ran-unsandboxed");
    expect(r.stderr).toContain("WITHOUT a sandbox");
    expect(r.logs.some((l) => l.line.includes("WITHOUT a sandbox"))).toBe(true);
  });
});
