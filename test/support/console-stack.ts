// The scaffolding of the console end-to-end tests: a work dir, two free ports, the programs the test
// starts (it pushes them onto `running`), a trace of their output. Afterwards every program is
// stopped, the VMs the manager left are ended and the dir removed; a failure carries the trace's tail.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
