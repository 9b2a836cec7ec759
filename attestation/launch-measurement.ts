// Launch measurement of a guest booted by the `sim` secure processor: the one definition shared by
// the manager (at launch, manager/measurement.ts), the sim attestation answer and `cocos-cli policy
// measurement --image` (from image.json alone). SHA-384 (48 bytes, the size of SNP's MEASUREMENT)
// over a domain tag and length-prefixed fields, so no two different (kernel, initrd, cmdline,
// firmware) tuples share an encoding.

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
