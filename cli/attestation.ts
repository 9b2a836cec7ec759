// `attestation get|validate` and `policy measurement|hostdata`.
import type { Command } from "commander";
import { rmSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { fromHex } from "../protocol/hash.ts";
import { readPolicy, setHostData, setMeasurement, writePolicy } from "../attestation/policy.ts";
import { describeEvidence, rpcBinding, teeNonce } from "../attestation/cli.ts";
import { connectAgent, type AttestedCredentialsFactory } from "./agent-client.ts";
import { DEFAULT_MAX_EVIDENCE_BYTES, downloadEvidence, writeExclusive } from "./attestation-download.ts";
import { readHead, refuseExisting } from "./output-file.ts";
import { parseByteSize } from "./agent-commands.ts";
import { loadAgentClientConfig } from "./config.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { progress } from "./progress.ts";
import type { ValidateFlags } from "./attestation-verify.ts";

const TYPES: Record<string, number> = { snp: 0, vtpm: 1, "snp-vtpm": 2 };

/** vTPM nonce: ≤ max bytes of hex, zero-padded (the SNP report data goes through attestation's teeNonce). */
function nonce(hex: string | undefined, max: number, what: string): Uint8Array {
  if (hex === undefined) return new Uint8Array(0);
  let b: Uint8Array;
  try {
    b = fromHex(hex);
  } catch (e) {
    throw new CliError(`${what}: ${(e as Error).message}`);
  }
  if (b.length > max) throw new CliError(`${what}: expected at most ${max} bytes, got ${b.length}`);
  const out = new Uint8Array(max);
  out.set(b);
  return out;
}

export interface GetOptions {
  tee?: string;
  vtpm?: string;
  json?: boolean;
  /** Evidence size cap (default 16 MiB), e.g. "64MiB". */
  maxSize?: string;
  /** Overwrite an existing attestation.bin / attestation.json. */
  force?: boolean;
}

/**
 * v0.4.0 form `attestation get <report_data hex>` and v0.5.0 form `attestation get snp --tee <hex>`.
 * Streams the evidence into attestation.bin (raw, as the agent sent it) or, with --json, writes
 * attestation.json; then says whether the evidence binds the nonce under the RPC's label.
 */
export async function attestationGet(ctx: CliContext, arg: string | undefined, o: GetOptions, attested?: AttestedCredentialsFactory): Promise<void> {
  let type = 0;
  let tee = o.tee;
  if (arg !== undefined && arg in TYPES) type = TYPES[arg]!;
  else if (arg !== undefined) tee = arg; // v0.4.0: the positional is the report data
  if ((type === 0 || type === 2) && tee === undefined) throw new CliError("SEV-SNP evidence needs report data: attestation get <hex ≤64 bytes> or attestation get snp --tee <hex>");
  if ((type === 1 || type === 2) && o.vtpm === undefined) throw new CliError("vTPM evidence needs --vtpm <hex ≤32 bytes>");
  let teeBytes: Uint8Array;
  try {
    teeBytes = teeNonce(tee);
  } catch (e) {
    throw new CliError(`report data: ${(e as Error).message}`);
  }
  const maxBytes = o.maxSize === undefined ? DEFAULT_MAX_EVIDENCE_BYTES : parseByteSize(o.maxSize, "--max-size");
  const req = { teeNonce: teeBytes, vtpmNonce: nonce(o.vtpm, 32, "vTPM nonce"), type };
  let cfg;
  try {
    cfg = loadAgentClientConfig(ctx.env);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const bin = resolve(ctx.cwd, "attestation.bin");
  const json = resolve(ctx.cwd, "attestation.json");
  // Refuse before contacting the agent (no --force, the name exists) rather than after the download.
  refuseExisting(o.json ? json : bin, o.force ?? false, "the evidence file");
  // With --json, stdout carries the JSON rendering alone (for `| jq`); every message goes to stderr.
  const say = o.json ? ctx.err : ctx.out;
  say(type === 0 ? "Fetching SEV-SNP attestation report" : type === 1 ? "Fetching vTPM report" : "Fetching SEV-SNP and vTPM report");
  const conn = await connectAgent(cfg, attested);
  // --json keeps only the rendering: the raw bytes go to a private temporary name first.
  const dest = o.json ? `${json}.evidence-${process.pid}` : bin;
  try {
    // The private name may be replaced (rename never follows a symlink); attestation.bin only with --force.
    await downloadEvidence(conn, req, { dest, maxBytes, force: o.json || (o.force ?? false), bar: progress("📥 Downloading attestation", ctx.tty), target: cfg.url });
  } finally {
    conn.close();
  }
  const head = readHead(dest, HEAD_BYTES);
  const binding = type === 0 ? rpcBinding(head, teeBytes) : undefined;
  if (o.json) {
    rmSync(dest, { force: true });
    const rendering = JSON.stringify({ ...describeEvidence(head), ...(binding ? { nonce_binding: binding } : {}) }, null, "\t");
    writeExclusive(json, new TextEncoder().encode(rendering + "\n"), o.force ?? false);
    ctx.out(rendering);
  }
  if (binding === "rpc") say("The report data binds your nonce (Attestation RPC label cocos-attestation-rpc-v1).");
  else if (binding === "raw") ctx.err("warning: the report data is your nonce itself, not its cocos-attestation-rpc-v1 digest: this agent signs caller-chosen data (e.g. Cocos's Go agent)");
  else if (binding === "none") ctx.err("warning: the report data does not carry your nonce: this evidence is not an answer to your request");
  say("Attestation result retrieved and saved successfully!");
}

/** Enough of the evidence for its report data: an SNP report is 1184 bytes, a TDX quote a few KiB. */
const HEAD_BYTES = 1 << 20;

/** Any entry at `path`, a dangling symlink included. */

async function policyEdit(ctx: CliContext, file: string, edit: (p: Awaited<ReturnType<typeof readPolicy>>) => Awaited<ReturnType<typeof readPolicy>>): Promise<void> {
  const path = isAbsolute(file) ? file : resolve(ctx.cwd, file);
  let p;
  try {
    p = await readPolicy(path);
  } catch (e) {
    throw new CliError(`could not read the attestation policy ${file}: ${(e as Error).message}`);
  }
  try {
    p = edit(p);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  await writePolicy(path, p);
}

export function registerAttestationCommands(program: Command, ctx: CliContext, attested: () => Promise<AttestedCredentialsFactory>): void {
  const att = program.command("attestation").description("get and validate attestation evidence");
  att
    .command("get")
    .description("fetch evidence from the agent into attestation.bin")
    .argument("[type_or_report_data]", "snp | vtpm | snp-vtpm, or (v0.4.0 form) the report data in hex")
    .option("-e, --tee <hex>", "report data / TEE nonce (≤ 64 bytes, hex)")
    .option("-t, --vtpm <hex>", "vTPM nonce (≤ 32 bytes, hex)")
    .option("-j, --json", "write a JSON rendering (attestation.json) instead of the raw bytes", false)
    .option("--max-size <size>", "largest evidence accepted from the agent (e.g. 64MiB)", "16MiB")
    .option("-f, --force", "overwrite an existing output file", false)
    .action(async (arg: string | undefined, o: GetOptions) => attestationGet(ctx, arg, o, await attested()));

  att
    .command("validate")
    .description("verify evidence (signature chain and policy) offline")
    .argument("<file>", "attestation.bin")
    .option("--policy <file>", "attestation policy JSON (default AGENT_GRPC_ATTESTATION_POLICY)")
    .option("--nonce <hex>", "the --tee nonce you gave `attestation get`: expects its Attestation RPC digest as report data")
    .option("--report_data <hex>", "exact expected report data (64 bytes, hex), e.g. a Cocos Go agent's raw nonce")
    .option("--host_data <hex>", "expected host data (32 bytes, hex): the manifest hash")
    .option("--measurement <hex>", "expected launch measurement (48 bytes, hex)")
    .option("--product <name>", "Milan | Genoa | Turin | SIM")
    .option("--vcek <file>", "VCEK/VLEK certificate (PEM or DER; a chain also gives the ASK and ARK) when the evidence carries none")
    .option("--ask <file>", "ASK/ASVK certificate, or ASK then ARK (PEM or DER, e.g. ca-bundle's ask_ark.pem)")
    .option("--ark <file>", "ARK certificate (PEM or DER); it must be AMD's pinned root for the product")
    .option("--at <time>", "verify as of this ISO time (certificate validity)")
    .option("--json", "print the verdict as JSON", false)
    .option("--allow-network", "fetch a missing VCEK from AMD KDS", false)
    .action(async (file: string, o: ValidateFlags) => {
      const { validateCommand } = await import("./attestation-verify.ts");
      const code = await validateCommand(ctx, file, o);
      if (code !== 0) throw new CliError("the evidence did not verify", code);
    });

  const pol = program.command("policy").description("edit an attestation policy file");
  pol
    .command("measurement")
    .description("set the expected launch measurement (48 bytes, base64 or hex), or compute it from a built guest image (--image: prints it, or writes it into policy_file)")
    .argument("[measurement]", "base64 or hex (not with --image)")
    .argument("[policy_file]", "policy JSON to rewrite")
    .option("--image <image.json>", "compute the measurement of this guest image (images/out/image.json) booted by the manager's QEMU backend")
    .option("--append <settings>", "with --image: the cocos.* settings the manager appends to the image's kernel command line (they are measured)", "")
    .option("--flavour <name>", "with --image: the image flavour the manager boots (minimal or full, MANAGER_QEMU_IMAGE_FLAVOUR)", "minimal")
    .action(async (a: string | undefined, b: string | undefined, o: { image?: string; append: string; flavour: string }) => {
      let m = a;
      let f = b;
      if (o.image) {
        if (b !== undefined) throw new CliError("policy measurement --image takes at most one argument, the policy file");
        const { imageMeasurement } = await import("./image-measurement.ts");
        m = Buffer.from(imageMeasurement(resolve(ctx.cwd, o.image), o.append, o.flavour).measurement).toString("hex");
        f = a;
        if (f === undefined) return ctx.out(m);
      }
      if (m === undefined || f === undefined) throw new CliError("policy measurement: expected <measurement> <policy_file>, or --image <image.json> [policy_file]");
      await policyEdit(ctx, f, (p) => setMeasurement(p, m)).then(() => ctx.out("Attestation policy updated: measurement"));
    });
  pol
    .command("hostdata")
    .description("set the expected host data (32 bytes, base64 or hex): the manifest hash")
    .argument("<host_data>", "base64 or hex")
    .argument("<policy_file>", "policy JSON to rewrite")
    .action((h: string, f: string) => policyEdit(ctx, f, (p) => setHostData(p, h)).then(() => ctx.out("Attestation policy updated: host data")));
}
