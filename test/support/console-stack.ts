// The scaffolding of the console end-to-end tests: a work dir, two free ports, the programs the test
// starts (it pushes them onto `running`), a trace of their output. Afterwards every program is
// stopped, the VMs the manager left are ended and the dir removed; a failure carries the trace's tail.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConsoleClient, startManagerProgram, type StackOptions } from "../../scripts/console.ts";
import { freePort, killLeftovers, type Program } from "../../scripts/iris-workflow.ts";

export interface ConsoleStack {
  workDir: string;
  httpPort: number;
  grpcPort: number;
  running: Program[];
  show: (program: string, line: string) => void;
}

export async function withConsoleStack<T>(prefix: string, fn: (s: ConsoleStack) => Promise<T>): Promise<T> {
  const workDir = mkdtempSync(join(tmpdir(), prefix));
  const trace: string[] = [];
  const stack: ConsoleStack = { workDir, httpPort: await freePort(), grpcPort: await freePort(), running: [], show: (p, l) => trace.push(`[${p}] ${l}`) };
  try {
    return await fn(stack);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- trace ---\n${trace.slice(-(Number(process.env.TRACE_LINES) || 40)).join("\n")}`);
  } finally {
    for (const p of stack.running.reverse()) await p.stop();
    killLeftovers(join(workDir, "manager-state"));
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** Polls `fn` every 100 ms until it returns something truthy (errors count as "not yet"). */
export async function until<T>(fn: () => Promise<T>, what: string, tries = 600): Promise<NonNullable<T>> {
  for (let i = 0; i < tries; i++) {
    const v = await fn().catch(() => null);
    if (v) return v as NonNullable<T>;
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A run's detail once it is running with its policy; throws at once when the run failed. */
export async function runUp(api: { call(method: string, path: string): Promise<any> }, runId: string, tries = 600): Promise<any> {
  for (let i = 0; i < tries; i++) {
    const r = await api.call("GET", `/api/runs/${runId}`);
    if (r.run.state === "failed") throw new Error(`run failed: ${r.run.error}`);
    if (r.run.state === "running" && r.run.has_policy) return r;
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for run ${runId} to be up with its policy`);
}

/** The console's first user "owner", and a manager "local" it registers, started (pushed onto `running`) and connected. */
export async function ownerWithManager(url: string, s: ConsoleStack, bins: StackOptions["bins"], description: string): Promise<ConsoleClient> {
  const owner = await ConsoleClient.register(url, "owner", "owner-password");
  const { token } = await owner.call("POST", "/api/managers", { id: "local", description });
  s.running.push(startManagerProgram({ workDir: s.workDir, bins, grpcPort: s.grpcPort, id: "local", token, show: s.show }));
  await until(async () => (await owner.call("GET", "/api/managers")).managers[0].connected, "the manager to connect");
  return owner;
}
