// The per-run WASI host, built inside the run Worker from one module per interface, the way
// wasmtime's crates/wasi is laid out: cli (args, env, captured stdio, exit that unwinds), clocks and
// io/poll (pollables that wake on the host's interrupt), filesystem (sandboxed preopens), random
// and the wall clock from preview2-shim, sockets with network disabled, and cocos:computation.

import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";
import type { DatasetEntry } from "../worker-protocol.ts";
import { CaptureStream, LimitExceeded, createCli } from "./cli.ts";
import { createMonotonicClock } from "./clocks.ts";
import { createCocosImports } from "./cocos.ts";
import { createSandboxFilesystem, type PreopenSpec } from "./filesystem.ts";
import { createPoll } from "./io.ts";
import { traceImports, traceMethods, tracing } from "./trace.ts";

export { LimitExceeded, WasiExit } from "./cli.ts";
export { scanDatasets } from "./cocos.ts";
export type { PreopenSpec } from "./filesystem.ts";

/** Thrown through the guest when the host stops the run (timeout, abort). */
export class Interrupted extends Error {}

export interface HostOptions {
  argv: string[];
  env: [string, string][];
  preopens: PreopenSpec[];
  maxStdioBytes: number;
  maxResultsBytes: number;
  onStdio(stream: "stdout" | "stderr", data: Uint8Array): void;
  onProgress(fraction: number, message: string): void;
  datasets(): DatasetEntry[];
  fdOpened(fd: number): void;
  fdClosed(fd: number): void;
  /** Sleeps up to `ms` unless the host interrupts the run (then throws Interrupted). */
  sleep(ms: number): void;
}

let traced = false;

export function createHost(opts: HostOptions) {
  let resultsBytes = 0;
  const chargeWrite = (n: number) => {
    resultsBytes += n;
    if (resultsBytes > opts.maxResultsBytes) {
      throw new LimitExceeded(
        "results-size",
        `results limit reached: the guest tried to write more than ${opts.maxResultsBytes} bytes under its writable directories`,
      );
    }
  };

  const { cli, stdout, stderr } = createCli(opts.argv, opts.env, { max: opts.maxStdioBytes, used: 0, onStdio: opts.onStdio });
  const filesystem = createSandboxFilesystem(opts.preopens, { chargeWrite, fdOpened: opts.fdOpened, fdClosed: opts.fdClosed });
  const shim = new WASIShim({
    cli,
    filesystem,
    sandbox: { enableNetwork: false },
  } as unknown as ConstructorParameters<typeof WASIShim>[0]);
  const imports: Record<string, unknown> = {
    ...shim.getImportObject(),
    "wasi:io/poll": createPoll(opts.sleep),
    "wasi:clocks/monotonic-clock": createMonotonicClock(opts.sleep),
    ...createCocosImports(opts.datasets, opts.onProgress),
  };

  if (tracing()) {
    traceImports(imports);
    if (!traced) traceMethods(CaptureStream.prototype as unknown as Record<string, unknown>);
    traced = true;
  }
  return { imports, chargeWrite, stdout, stderr };
}
