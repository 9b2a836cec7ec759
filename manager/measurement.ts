// Launch measurement of a booted image for the `sim` secure processor, from the files the manager
// boots (the definition itself is attestation/launch-measurement.ts, shared with cocos-cli).
import { statSync } from "node:fs";
import { simMeasurement, type LaunchDigests } from "../attestation/launch-measurement.ts";

export { simMeasurement };

const cache = new Map<string, Uint8Array>();

/** Streaming SHA-256 of a file, cached by (path, size, mtime, inode) so relaunches cost nothing. */
export async function fileSha256(path: string): Promise<Uint8Array> {
  const st = statSync(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const h = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) h.update(chunk);
  const d = new Uint8Array(h.digest());
  cache.set(key, d);
  return d;
}

export interface LaunchFiles {
  kernel: string;
  initrd: string;
  cmdline: string;
  firmware?: string;
}

export async function measureLaunch(f: LaunchFiles): Promise<{ measurement: Uint8Array; digests: LaunchDigests }> {
  const digests: LaunchDigests = {
    kernelSha256: await fileSha256(f.kernel),
    initrdSha256: await fileSha256(f.initrd),
    cmdline: f.cmdline,
    firmwareSha256: f.firmware ? await fileSha256(f.firmware) : undefined,
  };
  return { measurement: simMeasurement(digests), digests };
}
