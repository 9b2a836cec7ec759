// `bin` algorithms: the uploaded file is executed directly, as Cocos runs `./algo <args...>`,
// inside the native sandbox (native.ts).
import { chmod } from "node:fs/promises";
import { resolve } from "node:path";
import { INSIDE } from "../sandbox/index.ts";
import type { RunOutcome, Runner, RunSpec } from "../types.ts";
import { resolveLimits } from "./limits.ts";
import { nativeUnavailable, runNative } from "./native.ts";
import { algorithmEnv } from "./process.ts";

export const binRunner: Runner = {
  type: "bin",
  async unavailable() {
    if (process.platform !== "linux") return `bin runner needs Linux, this is ${process.platform}`;
    return nativeUnavailable();
  },
  async run(spec: RunSpec): Promise<RunOutcome> {
    const limits = resolveLimits(spec);
    const program = resolve(spec.algorithmPath);
    try {
      await chmod(program, 0o755);
    } catch (err) {
      return { kind: "error", message: `cannot make ${program} executable: ${(err as Error).message}`, durationMs: 0 };
    }
    return runNative(spec, limits, {
      sandboxed: { cmd: [INSIDE.algorithm, ...spec.args], env: algorithmEnv(spec, INSIDE.tmp) },
      unsandboxed: { cmd: [program, ...spec.args], env: algorithmEnv(spec, spec.workDir) },
      executable: true,
    });
  },
};
