// Runs one program to its end (killed after `timeoutMs`), with its stdout and stderr as one text.
import { spawn } from "node:child_process";

export function runProgram(argv: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.once("exit", (code) => (clearTimeout(timer), resolve({ code, out })));
  });
}
