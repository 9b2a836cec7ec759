#!/usr/bin/env bun
// cocos-manager entry point (compiled into dist/cocos-manager): dials the computations server,
// re-adopts VMs from the state dir, serves the HTTP API, and keeps going until SIGINT/SIGTERM.
// On shutdown VMs keep running; the next manager re-adopts them.
import { startManager } from "./app.ts";

let running: Awaited<ReturnType<typeof startManager>>;
try {
  running = await startManager();
} catch (e) {
  process.stderr.write(`cocos-manager: ${(e as Error).message}\n`);
  process.exit(1);
}
const stop = () => void running.shutdown().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
