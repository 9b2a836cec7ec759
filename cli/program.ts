// The cocos-cli command tree (cocos-agent.md §8, v0.4.0 plus `computations serve` and `wasm run`).
import { Command, CommanderError, Option } from "commander";
import { escapeControl } from "../protocol/text.ts";
import { algoCommand, dataCommand, resultCommand, type ResultOptions, type SigningOptions } from "./agent-commands.ts";
import { checksumCommand } from "./checksum.ts";
import { serveCommand } from "./computations.ts";
import type { ComputationsServer } from "./computations-server.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { normaliseGoFlags } from "./go-flags.ts";
import { keysCommand, symmetricKeyCommand } from "./keys.ts";
import { encryptCommand } from "./encrypt.ts";
import { kbsPutCommand, type KbsPutOptions } from "./kbs.ts";
import { registerAttestationCommands } from "./attestation.ts";

export interface RunOutcome {
  code: number;
  /** Set by `computations serve`: the caller keeps the process alive until it is closed. */
  server?: ComputationsServer;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function buildProgram(ctx: CliContext, outcome: RunOutcome): Command {
  const program = new Command("cocos-cli")
    .description("Cocos on Bun: upload algorithms and datasets to a confidential computation, fetch results, check attestation")
    .option("-v, --verbose", "print raw errors")
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.out(s.replace(/\n$/, "")), writeErr: (s) => ctx.err(s.replace(/\n$/, "")) })
    .showHelpAfterError();

  // Signing options of the three party commands.
  const signing = (c: Command) =>
    c
      .addOption(
        new Option("--signature <version>", "v2 (default; replay-resistant, bound to the computation and the agent) or v1 (Cocos compatibility, replayable); or COCOS_SIGNATURE").choices(["v1", "v2"]),
      )
      .option("--computation-id <id>", "computation id bound into v2 signatures (or COCOS_COMPUTATION_ID)")
      .option("--manifest <file>", "the computation's manifest: supplies the computation id for v2 signatures");
  const sig = (o: SigningOptions): SigningOptions => ({ signature: o.signature, computationId: o.computationId, manifest: o.manifest });

  program
    .command("keys")
    .description("generate a key pair: private.pem and public.pem in the current directory")
    .addOption(new Option("-k, --key-type <type>", "key type").choices(["rsa", "ecdsa", "ed25519"]).default("rsa"))
    .option("--force", "replace an existing private.pem / public.pem", false)
    .option("--symmetric [file]", "instead: a raw 32-byte AES-256-GCM key for `encrypt` (default symmetric.key)")
    .action((o: { keyType: string; force: boolean; symmetric?: string | true }) =>
      o.symmetric ? symmetricKeyCommand(ctx, o.symmetric === true ? undefined : o.symmetric, o.force) : keysCommand(ctx, o.keyType, o.force),
    );

  program
    .command("encrypt")
    .description("encrypt a file for a manifest resource with source.encrypted: nonce ‖ AES-256-GCM ciphertext ‖ tag (Cocos v0.10 format)")
    .argument("<key_file>", "raw 32-byte key (cocos-cli keys --symmetric)")
    .argument("<input>", "plaintext file")
    .argument("<output>", "encrypted file to write")
    .option("--force", "replace an existing output file", false)
    .action((key: string, input: string, output: string, o: { force: boolean }) => encryptCommand(ctx, key, input, output, o.force));

  program
    .command("kbs")
    .description("our key broker (cocos-kbs)")
    .command("put")
    .description("store a resource (e.g. an encryption key) with the attestation policy an enclave must satisfy to get it (token: KBS_ADMIN_TOKEN)")
    .argument("<path>", "resource path repository/type/tag, as in the manifest's source.kbs_resource_path")
    .argument("<secret_file>", "the resource bytes (e.g. symmetric.key)")
    .requiredOption("--policy <file>", "attestation policy JSON: measurement, host_data (manifest hash), minimum_tcb, root of trust")
    .option("--url <url>", "KBS address (or KBS_URL)")
    .action((path: string, secret: string, o: KbsPutOptions) => kbsPutCommand(ctx, path, secret, o));

  signing(program.command("algo"))
    .description("upload an algorithm (role algorithm-provider)")
    .argument("<algo_file>", "algorithm file")
    .argument("<private_key>", "private key of the algorithm provider")
    .addOption(new Option("-a, --algorithm <type>", "algorithm type").choices(["bin", "python", "wasm", "docker"]).default("bin"))
    .option("--args <value>", "argument for the algorithm (repeatable, order kept)", collect, [] as string[])
    .option("-r, --requirements <file>", "python requirements file")
    .option("--python-runtime <runtime>", "python runtime", "python3")
    .action(async (file: string, key: string, o: { algorithm: string; args: string[]; requirements?: string; pythonRuntime: string } & SigningOptions) =>
      algoCommand(ctx, file, key, { ...o, ...sig(o) }, await attestedFactory()),
    );

  signing(program.command("data"))
    .description("upload a dataset file or directory (role data-provider)")
    .argument("<dataset_path>", "dataset file, or a directory (sent as a deterministic zip and unpacked by the agent)")
    .argument("<private_key>", "private key of the data provider")
    .option("-d, --decompress", "ask the agent to unzip the dataset", false)
    .action(async (path: string, key: string, o: { decompress: boolean } & SigningOptions) => dataCommand(ctx, path, key, { ...o, ...sig(o) }, await attestedFactory()));

  signing(program.command("result"))
    .description("download the computation result (role consumer)")
    .argument("<private_key>", "private key of the result consumer")
    .argument("[file]", "output file", "results.zip")
    .option("--max-size <size>", "largest result accepted, e.g. 500MB, 4GiB (default 1GiB)")
    .option("--force", "replace an existing output file", false)
    .action(async (key: string, file: string, o: ResultOptions) =>
      resultCommand(ctx, key, file, { ...sig(o), maxSize: o.maxSize, force: o.force }, await attestedFactory()),
    );

  program
    .command("checksum")
    .description("SHA3-256 of a file, a directory (as its deterministic zip) or a manifest")
    .argument("<path>", "file, directory or manifest JSON")
    .option("-m, --manifest", "hash the canonical JSON of a computation manifest", false)
    .option("-b, --base64", "print base64 instead of hex", false)
    .action((path: string, o: { manifest: boolean; base64: boolean }) => checksumCommand(ctx, path, o));

  const computations = program.command("computations").description("development control plane (the original's test/computations)");
  computations
    .command("serve")
    .description("serve manager.ManagerService/Process: send the computation to every manager that connects and print what comes back")
    .argument("[args...]", "<algo-path> <public-key-path> <attested-tls-bool> [<dataset-path>...]: the key is the algorithm provider's, and every other role's unless given below")
    .option("--manifest <file>", "send this manifest JSON (several parties' keys) instead of building one")
    .option("--id <id>", "computation id (default 1)")
    .option("--host <host>", "listen host (default HOST or localhost)")
    .option("--port <port>", "listen port (default PORT or 7001)")
    .option("--policy-out <file>", "once the computation runs, ask the manager for its attestation policy and write it here")
    .option("--cocos-v1-signatures", "the built manifest also accepts Cocos's replayable v1 signatures (default: v2-only)", false)
    .option("--data-key <public.pem>", "data provider's public key: once for every dataset, or once per dataset in order", collect, [] as string[])
    .option("--consumer-key <public.pem>", "result consumer's public key (repeatable, one consumer each)", collect, [] as string[])
    .action(async (args: string[], o: { manifest?: string; id?: string; host?: string; port?: string; policyOut?: string; cocosV1Signatures: boolean; dataKey: string[]; consumerKey: string[] }) => {
      outcome.server = await serveCommand(ctx, args, o);
    });

  registerAttestationCommands(program, ctx, () => attestedFactory());
  return program;
}

/** The attested-TLS credentials factory, loaded only when a command needs it. */
async function attestedFactory() {
  const { attestedCredentials } = await import("./atls.ts");
  return attestedCredentials;
}

/** Runs one command line (argv without "bun cli/main.ts"); never exits the process itself. */
export async function runCli(argv: string[], ctx: CliContext): Promise<RunOutcome> {
  const outcome: RunOutcome = { code: 0 };
  if (argv[0] === "wasm") {
    const { wasmCommand } = await import("./wasm.ts");
    outcome.code = await wasmCommand(argv.slice(1), ctx);
    return outcome;
  }
  const program = buildProgram(ctx, outcome);
  try {
    await program.parseAsync(normaliseGoFlags(argv, program), { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      outcome.code = e.exitCode;
      return outcome;
    }
    const verbose = Boolean(program.opts().verbose);
    if (e instanceof CliError) {
      ctx.err(red(`error: ${terminalSafe(e.message)}`));
      if (verbose && e.cause) ctx.err(terminalSafe(String((e.cause as Error)?.stack ?? e.cause)));
      outcome.code = e.exitCode;
    } else {
      ctx.err(red(`error: ${terminalSafe((e as Error)?.message ?? String(e))}`));
      if (verbose) ctx.err(terminalSafe(String((e as Error)?.stack ?? e)));
      outcome.code = 1;
    }
  }
  return outcome;
}

/**
 * Messages may quote other parties (the agent, its evidence): no control character reaches the
 * terminal; the message's own line breaks stay.
 */
function terminalSafe(message: string): string {
  return message.split("\n").map(escapeControl).join("\n");
}

function red(s: string): string {
  return process.stderr.isTTY ? `\x1b[31m${s}\x1b[0m` : s;
}
