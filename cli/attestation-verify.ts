// `attestation validate FILE`: offline verification with attestation/ (signature chain, policy),
// policy taken from --policy (or AGENT_GRPC_ATTESTATION_POLICY) plus the v0.4.0 per-field flags.
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { validateFile } from "../attestation/cli.ts";
import { readPolicy, setHostData, setMeasurement, setProduct, type AttestationPolicy } from "../attestation/policy.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";

export interface ValidateFlags {
  policy?: string;
  report_data?: string;
  nonce?: string;
  host_data?: string;
  measurement?: string;
  product?: string;
  vcek?: string;
  ask?: string;
  ark?: string;
  at?: string;
  json?: boolean;
  allowNetwork?: boolean;
}

export async function validateCommand(ctx: CliContext, file: string, o: ValidateFlags): Promise<number> {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(ctx.cwd, p));
  const path = abs(file);
  if (!existsSync(path)) throw new CliError(`${file} does not exist`);
  const policyPath = o.policy ?? ctx.env.AGENT_GRPC_ATTESTATION_POLICY;
  let policy: AttestationPolicy = {};
  try {
    if (policyPath) policy = await readPolicy(abs(policyPath));
    if (o.host_data) policy = setHostData(policy, o.host_data);
    if (o.measurement) policy = setMeasurement(policy, o.measurement);
    if (o.product) policy = setProduct(policy, o.product);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  // With --json, stdout carries the verdict alone (for `| jq`); every message goes to stderr.
  const say = o.json ? ctx.err : ctx.out;
  say("Checking attestation");
  let r;
  try {
    r = await validateFile(path, {
      policy,
      reportData: o.report_data,
      nonce: o.nonce,
      vcek: o.vcek ? abs(o.vcek) : undefined,
      ask: o.ask ? abs(o.ask) : undefined,
      ark: o.ark ? abs(o.ark) : undefined,
      at: o.at,
      json: o.json,
      allowNetwork: o.allowNetwork ?? false,
    });
  } catch (e) {
    throw new CliError(`attestation validation and verification failed with error: ${(e as Error).message} ❌`);
  }
  ctx.out(r.output);
  for (const w of r.warnings) ctx.err(`warning: ${w}`);
  if (r.verdict.ok) say("Attestation validation and verification is successful!");
  else ctx.err(`attestation validation and verification failed with error: ${r.verdict.reason} ❌`);
  return r.exitCode;
}
