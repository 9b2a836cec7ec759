// Launch measurement of a booted image for the `sim` secure processor: the one definition used by
// the QEMU backend (at launch), the sim attestation answer, image tests and cocos-cli policy tools.
// SHA-384 (48 bytes, the size of SNP's MEASUREMENT) over a domain tag and length-prefixed fields, so
// no two different (kernel, initrd, cmdline, firmware) tuples share an encoding.
import { statSync } from "node:fs";

export const SIM_MEASUREMENT_DOMAIN = "cocos-sim-launch-measurement/v1";

export interface LaunchDigests {
  kernelSha256: Uint8Array;
  initrdSha256: Uint8Array;
  /** The exact kernel command line passed to the VM (the manager's per-VM settings included). */
  cmdline: string;
  /** Firmware (OVMF) digest when the launch used one; absent for direct PVH boot. */
  firmwareSha256?: Uint8Array;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

export function simMeasurement(d: LaunchDigests): Uint8Array {
  for (const [name, v] of [["kernel", d.kernelSha256], ["initrd", d.initrdSha256], ["firmware", d.firmwareSha256]] as const) {
    if (v !== undefined && v.length !== 32) throw new Error(`measurement: expected a 32-byte SHA-256 of the ${name}, got ${v.length} bytes`);
  }
  const h = new Bun.CryptoHasher("sha384");
  const field = (tag: string, value: Uint8Array) => h.update(u32(tag.length)).update(tag).update(u32(value.length)).update(value);
  h.update(SIM_MEASUREMENT_DOMAIN);
  field("kernel", d.kernelSha256);
  field("initrd", d.initrdSha256);
  field("cmdline", new TextEncoder().encode(d.cmdline));
  if (d.firmwareSha256) field("firmware", d.firmwareSha256);
  return new Uint8Array(h.digest());
}

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
