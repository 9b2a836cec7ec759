// Terminating a Worker while it is inside ONNX Runtime's N-API addon aborts the whole process (the
// addon's C++ throws Napi::Error into code that does not catch it, std::terminate). So a run's
// native calls are bracketed by a shared "busy" flag, and the engine terminates the Worker only
// once it is 0. The race is closed by the order: the engine raises the interrupt flag, then waits
// for busy = 0; the Worker raises busy, then checks the interrupt flag before it enters the addon.

const BUSY = 0;

export class NativeGuard {
  constructor(
    private readonly flag: Int32Array | undefined,
    /** Throws when the host has stopped the run. */
    private readonly checkInterrupt: () => void,
  ) {}

  run<T>(native: () => T): T {
    if (!this.flag) return native();
    Atomics.store(this.flag, BUSY, 1);
    try {
      this.checkInterrupt();
      return native();
    } finally {
      Atomics.store(this.flag, BUSY, 0);
      Atomics.notify(this.flag, BUSY);
    }
  }
}

/** Resolves once the Worker owning `flag` is outside the addon (call after raising its interrupt flag). */
export async function nativeIdle(flag: Int32Array): Promise<void> {
  while (Atomics.load(flag, BUSY) !== 0) {
    const w = Atomics.waitAsync(flag, BUSY, 1);
    if (w.async) await w.value;
  }
}
