// `cocos-cli checksum PATH [-m] [-b]`: SHA3-256 of a file, of a directory (as the deterministic zip
// `data` uploads), or of a manifest's canonical JSON (what the manifest hash / HOST_DATA binds).
import { readFileSync, statSync } from "node:fs";
import { hashPath } from "../protocol/hash.ts";
import { manifestHash, parseManifest } from "../protocol/manifest.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { isAbsolute, resolve } from "node:path";

export async function checksumOf(path: string, manifest: boolean): Promise<Uint8Array> {
  try {
    statSync(path);
  } catch (e) {
    throw new CliError(`${path} does not exist: ${(e as Error).message}`);
  }
  if (!manifest) return hashPath(path);
  try {
    return manifestHash(parseManifest(readFileSync(path, "utf8")));
  } catch (e) {
    throw new CliError(`${path} is not a valid computation manifest: ${(e as Error).message}`);
  }
}

export async function checksumCommand(ctx: CliContext, path: string, o: { manifest: boolean; base64: boolean }): Promise<void> {
  const full = isAbsolute(path) ? path : resolve(ctx.cwd, path);
  const h = await checksumOf(full, o.manifest);
  const text = o.base64 ? Buffer.from(h).toString("base64") : Buffer.from(h).toString("hex");
  ctx.out(o.manifest ? `Hash of manifest file: ${text}` : `Hash of file: ${text}`);
}
