#!/usr/bin/env bun
// cocos-cli entry point (compiled into dist/cocos-cli).
import { processContext } from "./context.ts";
import { runCli } from "./program.ts";

const outcome = await runCli(process.argv.slice(2), processContext());
if (outcome.server) {
  const server = outcome.server;
  const stop = () => void server.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
} else {
  process.exit(outcome.code);
}
