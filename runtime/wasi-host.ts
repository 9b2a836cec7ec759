// The per-run WASI host, built inside the run Worker: preview2-shim's WASIShim with the runtime's
// own cli (args, env, captured stdio, exit that unwinds instead of exiting the process), its own
// sandboxed filesystem, sockets with network disabled, and the cocos:computation imports.

import { closeSync, openSync, readSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";
import { error as ioError, streams } from "@bytecodealliance/preview2-shim/io";
import { monotonicClock } from "@bytecodealliance/preview2-shim/clocks";
import { createSandboxFilesystem, traceMethods, type FsHooks, type PreopenSpec } from "./wasi-fs.ts";
import type { DatasetEntry } from "./worker-protocol.ts";
import type { LimitKind } from "./types.ts";

/** Thrown through the guest by exit/exit-with-code; the run's outcome is this code. */
export class WasiExit extends Error {
  constructor(readonly code: number) {
    super(`guest exited with code ${code}`);
  }
}

/** Thrown through the guest when the host stops the run (timeout, abort). */
export class Interrupted extends Error {}

/** Thrown through the guest when a limit is reached; it is an Error without `payload`, so jco rethrows it. */
export class LimitExceeded extends Error {
  constructor(
    readonly limit: LimitKind,
    message: string,
  ) {
    super(message);
  }
}

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

type ShimOutputStream = new () => object;
const BaseOutput = streams.OutputStream as unknown as ShimOutputStream;
const BaseInput = streams.InputStream as unknown as ShimOutputStream;

export function createHost(opts: HostOptions) {
  // wasi:io/poll and the clocks' subscriptions live in this worker (not in preview2-shim's I/O
  // thread), so a guest blocked in poll/sleep wakes up when the host interrupts the run.
  const now = () => monotonicClock.now() as bigint;
  class Pollable {
    constructor(readonly deadline: bigint | null) {}
    ready(): boolean {
      return this.deadline === null || now() >= this.deadline;
    }
    block(): void {
      if (this.deadline !== null) waitUntil(this.deadline);
    }
    [Symbol.dispose](): void {}
  }
  const waitUntil = (deadline: bigint) => {
    for (;;) {
      const left = deadline - now();
      if (left <= 0n) return;
      opts.sleep(Math.min(Number(left / 1_000_000n) + 1, 1000));
    }
  };
  const readyPollable = () => new Pollable(null);
  const poll = {
    Pollable,
    poll(list: Pollable[]): Uint32Array {
      if (list.length === 0) throw new Error("wasi:io/poll.poll: empty list");
      for (;;) {
        const ready = list.flatMap((p, i) => (p.ready() ? [i] : []));
        if (ready.length > 0) return Uint32Array.from(ready);
        waitUntil(list.reduce((m, p) => (p.deadline! < m ? p.deadline! : m), list[0]!.deadline!));
      }
    },
  };
  const clocks = {
    ...monotonicClock,
    subscribeInstant: (instant: bigint) => new Pollable(BigInt(instant)),
    subscribeDuration: (duration: bigint) => new Pollable(now() + BigInt(duration)),
  };

  let stdioBytes = 0;
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

  class CaptureStream extends BaseOutput {
    constructor(readonly stream: "stdout" | "stderr") {
      super();
    }
    checkWrite(): bigint {
      return 1n << 20n;
    }
    write(buf: Uint8Array): void {
      const room = opts.maxStdioBytes - stdioBytes;
      if (buf.length > room) {
        if (room > 0) opts.onStdio(this.stream, buf.slice(0, room));
        stdioBytes = opts.maxStdioBytes;
        throw new LimitExceeded("stdio-size", `stdout/stderr limit reached: the guest wrote more than ${opts.maxStdioBytes} bytes`);
      }
      stdioBytes += buf.length;
      if (buf.length > 0) opts.onStdio(this.stream, buf.slice());
    }
    blockingWriteAndFlush(buf: Uint8Array): void {
      this.write(buf);
    }
    flush(): void {}
    blockingFlush(): void {}
    writeZeroes(len: bigint): void {
      this.write(new Uint8Array(Number(len > 1n << 20n ? 1n << 20n : len)));
    }
    blockingWriteZeroesAndFlush(len: bigint): void {
      this.writeZeroes(len);
    }
    subscribe(): object {
      return readyPollable();
    }
    [Symbol.dispose](): void {}
  }

  class EmptyStdin extends BaseInput {
    read(): Uint8Array {
      throw { tag: "closed" };
    }
    blockingRead(): Uint8Array {
      throw { tag: "closed" };
    }
    skip(): bigint {
      throw { tag: "closed" };
    }
    blockingSkip(): bigint {
      throw { tag: "closed" };
    }
    subscribe(): object {
      return readyPollable();
    }
    [Symbol.dispose](): void {}
  }

  const stdout = new CaptureStream("stdout");
  const stderr = new CaptureStream("stderr");
  const stdin = new EmptyStdin();
  class TerminalInput {}
  class TerminalOutput {}

  const cli = {
    environment: {
      getEnvironment: () => opts.env,
      getArguments: () => opts.argv,
      initialCwd: () => undefined,
    },
    exit: {
      exit(status: { tag: string }) {
        throw new WasiExit(status.tag === "err" ? 1 : 0);
      },
      exitWithCode(code: number) {
        throw new WasiExit(code);
      },
    },
    stdin: { getStdin: () => stdin },
    stdout: { getStdout: () => stdout },
    stderr: { getStderr: () => stderr },
    terminalInput: { TerminalInput },
    terminalOutput: { TerminalOutput },
    // Not a terminal: option<terminal-*> is none.
    terminalStdin: { getTerminalStdin: () => undefined },
    terminalStdout: { getTerminalStdout: () => undefined },
    terminalStderr: { getTerminalStderr: () => undefined },
  };

  const hooks: FsHooks = { chargeWrite, fdOpened: opts.fdOpened, fdClosed: opts.fdClosed };
  const fs = createSandboxFilesystem(
    opts.preopens,
    {
      InputStream: BaseInput,
      OutputStream: BaseOutput,
      IoError: ioError.Error as unknown as new (payload: unknown) => Error,
      readyPollable,
    },
    hooks,
  );

  const shim = new WASIShim({
    cli,
    filesystem: fs,
    sandbox: { enableNetwork: false },
  } as unknown as ConstructorParameters<typeof WASIShim>[0]);
  const imports: Record<string, unknown> = { ...shim.getImportObject() };
  imports["wasi:io/poll"] = poll;
  imports["wasi:clocks/monotonic-clock"] = clocks;

  imports["cocos:computation/datasets"] = {
    listDatasets: () => opts.datasets().map((d) => ({ name: d.name, hash: d.hash, size: BigInt(d.size) })),
  };
  imports["cocos:computation/progress"] = {
    report(fraction: number, message: string) {
      const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
      opts.onProgress(f, String(message).slice(0, 4096));
    },
  };

  if (process.env.COCOS_WASI_TRACE === "1") {
    traceImports(imports);
    traceMethods(CaptureStream.prototype as unknown as Record<string, unknown>);
  }
  return { imports, chargeWrite, stdout, stderr };
}

/** Lists the top-level regular files of a datasets directory with their SHA3-256 and size. */
export function scanDatasets(dir: string): DatasetEntry[] {
  const out: DatasetEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (!st.isFile()) continue;
    out.push({ name, hash: hashFile(p), size: st.size });
  }
  return out;
}

/** Debug aid (COCOS_WASI_TRACE=1): logs calls of the plain import functions to the host's stderr. */
function traceImports(imports: Record<string, unknown>): void {
  for (const [iface, obj] of Object.entries(imports)) {
    if (!obj || typeof obj !== "object") continue;
    const copy: Record<string, unknown> = { ...(obj as Record<string, unknown>) };
    for (const [name, fn] of Object.entries(copy)) {
      if (typeof fn !== "function" || /^[A-Z]/.test(name)) continue;
      copy[name] = (...args: unknown[]) => {
        process.stderr.write(`import ${iface}#${name}\n`);
        return (fn as (...a: unknown[]) => unknown)(...args);
      };
    }
    imports[iface] = copy;
  }
}

function hashFile(path: string): string {
  const h = new Bun.CryptoHasher("sha3-256");
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(1 << 20);
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}
