// wasi:cli — the guest's args and env, stdout/stderr captured and capped, an empty stdin, no
// terminal, and an exit that unwinds the guest (a thrown WasiExit) instead of ending the process.

import type { LimitKind } from "../types.ts";
import { BaseInputStream, BaseOutputStream, readyPollable } from "./io.ts";

/** Thrown through the guest by exit/exit-with-code; the run's outcome is this code. */
export class WasiExit extends Error {
  constructor(readonly code: number) {
    super(`guest exited with code ${code}`);
  }
}

/** Thrown through the guest when a limit is reached; it is an Error without `payload`, so jco rethrows it. */
export class LimitExceeded extends Error {
  constructor(
    readonly limit: LimitKind,
    message: string,
  ) {
    super(message);
  }
}

/** Shared by stdout and stderr: the run's cap on both together. */
export interface StdioBudget {
  max: number;
  used: number;
  onStdio(stream: "stdout" | "stderr", data: Uint8Array): void;
}

export class CaptureStream extends BaseOutputStream {
  constructor(
    readonly stream: "stdout" | "stderr",
    private readonly budget: StdioBudget,
  ) {
    super();
  }
  checkWrite(): bigint {
    return 1n << 20n;
  }
  write(buf: Uint8Array): void {
    const b = this.budget;
    const room = b.max - b.used;
    if (buf.length > room) {
      if (room > 0) b.onStdio(this.stream, buf.slice(0, room));
      b.used = b.max;
      throw new LimitExceeded("stdio-size", `stdout/stderr limit reached: the guest wrote more than ${b.max} bytes`);
    }
    b.used += buf.length;
    if (buf.length > 0) b.onStdio(this.stream, buf.slice());
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

class EmptyStdin extends BaseInputStream {
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

class TerminalInput {}
class TerminalOutput {}

export function createCli(argv: string[], env: [string, string][], budget: StdioBudget) {
  const stdout = new CaptureStream("stdout", budget);
  const stderr = new CaptureStream("stderr", budget);
  const stdin = new EmptyStdin();
  const cli = {
    environment: {
      getEnvironment: () => env,
      getArguments: () => argv,
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
  return { cli, stdout, stderr };
}
