// `cocos-cli encrypt KEY IN OUT`: Cocos v0.10's encrypted-resource format (what its
// scripts/encrypt.go writes): nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16), KEY a raw 32-byte file
// (`cocos-cli keys --symmetric`). The output is written the safe way (cli/output-file.ts).
import { closeSync, fsyncSync, readFileSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { checkKey, sealFile, SealedFileError } from "../protocol/sealed-file.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { createExclusive, publish, refuseExisting, temporaryPathFor } from "./output-file.ts";

export function readSymmetricKey(path: string): Uint8Array {
  let key: Uint8Array;
  try {
    key = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new CliError(`could not read the key file ${path}: ${(e as Error).message}`);
  }
  try {
    checkKey(key, `key file ${path}`);
  } catch (e) {
    throw new CliError(`${(e as SealedFileError).message} (raw bytes, as \`cocos-cli keys --symmetric\` writes)`);
  }
  return key;
}

export function encryptCommand(ctx: CliContext, keyPath: string, inPath: string, outPath: string, force = false): void {
  const key = readSymmetricKey(resolve(ctx.cwd, keyPath));
  const input = resolve(ctx.cwd, inPath);
  const out = resolve(ctx.cwd, outPath);
  refuseExisting(out, force, "the encrypted file");
  const tmp = temporaryPathFor(out);
  const fd = createExclusive(tmp, 0o644);
  let bytes: number;
  try {
    bytes = sealFile(key, input, fd);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw new CliError(`could not encrypt ${inPath}: ${(e as Error).message}`);
  }
  closeSync(fd);
  publish(tmp, out, force, "the encrypted file");
  ctx.out(`Successfully encrypted ${inPath} to ${outPath} (${bytes} bytes: nonce ‖ AES-256-GCM ciphertext ‖ tag)`);
}
