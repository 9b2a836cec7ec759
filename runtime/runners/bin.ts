// `bin` algorithms: the uploaded file is executed directly, as Cocos runs `./algo <args...>`.
import { chmod } from "node:fs/promises";
import { resolve } from "node:path";
import type { RunOutcome, Runner, RunSpec } from "../types.ts";
import { resolveLimits } from "./limits.ts";
import { algorithmEnv, runProcess } from "./process.ts";

export const binRunner: Runner = {
  type: "bin",
  async unavailable() {
    return process.platform === "linux" ? null : `bin runner needs Linux, this is ${process.platform}`;
  },
  async run(spec: RunSpec): Promise<RunOutcome> {
    const limits = resolveLimits(spec);
    const program = resolve(spec.algorithmPath);
    try {
      await chmod(program, 0o755);
    } catch (err) {
      return { kind: "error", message: `cannot make ${program} executable: ${(err as Error).message}`, durationMs: 0 };
    }
    return runProcess({
      cmd: [program, ...spec.args],
      cwd: spec.workDir,
      env: algorithmEnv(spec),
      limits,
      resultsDir: spec.resultsDir,
      onLog: spec.onLog,
      signal: spec.signal,
    });
  },
};
