// cocos-agent entry point: `cocos-agent [--manifest FILE]`; configuration from AGENT_* variables.
// The agent's modules are imported only after the first boot mark, so the guest's boot breakdown
// (bench/boot.ts) separates runtime start-up from evaluating the agent's JavaScript.
import { bootMarks } from "./boot-marks.ts";

const marks = bootMarks();
marks.mark("entry");
const [{ Agent }, { ConfigError, loadConfig }] = await Promise.all([import("./agent.ts"), import("./config.ts")]);
marks.mark("imported");

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

let agent: InstanceType<typeof Agent>;
try {
  const args = parseArgs(process.argv.slice(2));
  const logWrite = (line: string) => {
    process.stdout.write(line + "\n");
    marks.watch(line);
  };
  agent = new Agent({ config: loadConfig(), manifestFile: args.manifestFile, logWrite });
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
  const started = agent.start();
  // start() opens the host channel and the HTTP listener before its first await.
  marks.mark("listening");
  await started;
} catch (err) {
  // Through the logger, so the manager hears why over the host channel before the process ends.
  agent.log.error(`agent failed to start: ${(err as Error).message}`);
  if (agent.link) await Bun.sleep(500);
  process.exit(1);
}
