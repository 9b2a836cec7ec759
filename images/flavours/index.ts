// Guest image flavours: "minimal" (Wasm and static binaries: busybox, the native sandbox, the
// agent) and "full" (the minimal image plus Python 3 and Podman for `python` and `docker`
// algorithms). Each flavour is its own initramfs next to the one kernel, with its own measurement.
import type { CpioEntry } from "../cpio.ts";
import { type FlavourFiles, fullFiles } from "./full.ts";

export const FLAVOURS = ["minimal", "full"] as const;
export type Flavour = (typeof FLAVOURS)[number];

/** The flavour's initramfs file name in the output folder (the minimal one keeps its old name). */
export function initrdName(flavour: Flavour): string {
  return flavour === "minimal" ? "initramfs.cpio" : `initramfs-${flavour}.cpio`;
}

/** Entries a flavour adds to the minimal image's `base` entries. */
export function flavourFiles(flavour: Exclude<Flavour, "minimal">, cache: string, offline: boolean, base: readonly CpioEntry[]): FlavourFiles {
  switch (flavour) {
    case "full":
      return fullFiles(cache, offline, base);
  }
}
