// cocos-agent entry point: `cocos-agent [--manifest FILE]`; configuration from AGENT_* variables.
import { Agent } from "./agent.ts";
import { ConfigError, loadConfig } from "./config.ts";

function parseArgs(argv: string[]): { manifestFile?: string } {
  const out: { manifestFile?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--manifest" || a === "-m") out.manifestFile = argv[++i];
    else if (a.startsWith("--manifest=")) out.manifestFile = a.slice("--manifest=".length);
    else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: cocos-agent [--manifest FILE]\n  configuration: AGENT_GRPC_PORT, AGENT_GRPC_HOST, AGENT_LOG_LEVEL, AGENT_HOST_CHANNEL, AGENT_ATTESTATION, ... (see agent/config.ts)\n");
      process.exit(0);
    } else throw new ConfigError(`unknown argument ${JSON.stringify(a)}; usage: cocos-agent [--manifest FILE]`);
  }
  if ("manifestFile" in out && !out.manifestFile) throw new ConfigError("--manifest needs a file path");
  return out;
}

function fatal(msg: string): never {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level: "ERROR", msg }) + "\n");
  process.exit(1);
}

let agent: Agent;
try {
  const args = parseArgs(process.argv.slice(2));
  agent = new Agent({ config: loadConfig(), manifestFile: args.manifestFile });
} catch (err) {
  fatal((err as Error).message);
}

for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    agent.log.info("shutting down", { signal: sig });
    agent.stop().finally(() => process.exit(0));
  });
}

try {
  await agent.start();
} catch (err) {
  // Through the logger, so the manager hears why over the host channel before the process ends.
  agent.log.error(`agent failed to start: ${(err as Error).message}`);
  if (agent.link) await Bun.sleep(500);
  process.exit(1);
}
