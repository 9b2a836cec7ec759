// cocos-console: the control plane (REST API + UI over HTTP, managers over gRPC). Configuration:
// CONSOLE_* environment variables (config.ts).
import { startConsole } from "./app.ts";

try {
  const c = await startConsole();
  const stop = async () => {
    await c.stop();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} catch (e) {
  process.stderr.write(`cocos-console: ${(e as Error).message}\n`);
  process.exit(1);
}
