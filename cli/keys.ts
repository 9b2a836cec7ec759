// `cocos-cli keys -k rsa|ecdsa|ed25519`: private.pem / public.pem in the working directory, in the
// original CLI's formats (protocol/keys.ts) and with its success text. An existing key is never
// replaced without --force, and never written through a symlink (cli/output-file.ts).
import { join } from "node:path";
import { KEY_TYPES, generateKeyPair, type KeyType } from "../protocol/keys.ts";
import { generateSealedKey } from "../protocol/sealed-file.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { refuseExisting, writeNewFile } from "./output-file.ts";

export function keysCommand(ctx: CliContext, keyType: string, force = false): void {
  if (!KEY_TYPES.includes(keyType as KeyType)) {
    throw new CliError(`unknown key type ${JSON.stringify(keyType)}: expected one of ${KEY_TYPES.join(", ")}`);
  }
  const priv = join(ctx.cwd, "private.pem");
  const pub = join(ctx.cwd, "public.pem");
  refuseExisting(priv, force, "the private key");
  refuseExisting(pub, force, "the public key");
  const { privatePem, publicPem } = generateKeyPair(keyType as KeyType);
  writeNewFile(priv, privatePem, 0o600, force, "the private key");
  writeNewFile(pub, publicPem, 0o644, force, "the public key");
  ctx.out(`Successfully generated public/private key pair of type: ${keyType}`);
}

/** `cocos-cli keys --symmetric`: a raw 32-byte AES-256-GCM key (Cocos's scripts/encrypt.go reads raw bytes). */
export function symmetricKeyCommand(ctx: CliContext, file = "symmetric.key", force = false): void {
  const path = join(ctx.cwd, file);
  refuseExisting(path, force, "the symmetric key");
  writeNewFile(path, generateSealedKey(), 0o600, force, "the symmetric key");
  ctx.out(`Successfully generated a 32-byte AES-256-GCM key: ${file}`);
}
