// `cocos-cli kbs put PATH SECRET_FILE --policy FILE`: registers a resource (e.g. the key of an
// encrypted dataset) in our KBS (console/kbs/) with the attestation policy an enclave must satisfy to get it.
// The admin token comes from KBS_ADMIN_TOKEN (not a flag: it would show in the process list).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parsePolicy } from "../attestation/policy.ts";
import { parseResourcePath } from "../protocol/manifest.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";

export interface KbsPutOptions {
  url?: string;
  policy: string;
}

export async function kbsPutCommand(ctx: CliContext, path: string, secretFile: string, o: KbsPutOptions): Promise<void> {
  const bad = parseResourcePath(path);
  if (typeof bad === "string") throw new CliError(`resource path: ${bad}`);
  const url = (o.url ?? ctx.env.KBS_URL ?? "").replace(/\/+$/, "");
  if (!url) throw new CliError("KBS address: expected --url or KBS_URL, got neither");
  const token = ctx.env.KBS_ADMIN_TOKEN ?? "";
  if (!token) throw new CliError("KBS_ADMIN_TOKEN is not set: the KBS admin API needs its bearer token");
  const read = (f: string, what: string) => {
    try {
      return readFileSync(resolve(ctx.cwd, f));
    } catch (e) {
      throw new CliError(`could not read ${what} ${f}: ${(e as Error).message}`);
    }
  };
  const secret = read(secretFile, "the secret");
  let policy;
  try {
    policy = parsePolicy(read(o.policy, "the policy").toString("utf8"));
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  let res: Response;
  try {
    res = await fetch(`${url}/admin/v0/resource/${path}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ secret: secret.toString("base64"), policy }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (e) {
    throw new CliError(`KBS ${url} unreachable: ${(e as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new CliError(`KBS refused the resource: HTTP ${res.status}: ${text.slice(0, 300)}`);
  ctx.out(`Stored ${path} (${secret.length} bytes) in the KBS at ${url}`);
}
