// `cocos-cli keys -k rsa|ecdsa|ed25519`: private.pem / public.pem in the working directory, in the
// original CLI's formats (protocol/keys.ts) and with its success text.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { KEY_TYPES, generateKeyPair, type KeyType } from "../protocol/keys.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";

export function keysCommand(ctx: CliContext, keyType: string): void {
  if (!KEY_TYPES.includes(keyType as KeyType)) {
    throw new CliError(`unknown key type ${JSON.stringify(keyType)}: expected one of ${KEY_TYPES.join(", ")}`);
  }
  const { privatePem, publicPem } = generateKeyPair(keyType as KeyType);
  writeFileSync(join(ctx.cwd, "private.pem"), privatePem, { mode: 0o600 });
  writeFileSync(join(ctx.cwd, "public.pem"), publicPem, { mode: 0o644 });
  ctx.out(`Successfully generated public/private key pair of type: ${keyType}`);
}
