// `cocos-cli policy measurement --image image.json [--flavour F] [--append SETTINGS] [policy_file]`: the launch
// measurement a guest image produces when the manager's QEMU backend boots it with the sim secure
// processor, computed from the image's image.json alone (the SHA-256 of the booted kernel and
// initramfs and its kernel command line, images/build.ts) plus the per-VM `cocos.*` settings the
// manager appends to that command line, which are part of what is measured.
import { readFileSync } from "node:fs";
import { simMeasurement } from "../attestation/launch-measurement.ts";
import { CliError } from "./errors.ts";

export interface ImageMeasurement {
  measurement: Uint8Array;
  /** The full kernel command line the measurement covers. */
  cmdline: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

type Inputs = Record<string, unknown>;

/**
 * The flavour's measurement inputs: `flavours.<name>.measurement_inputs`, and for the minimal
 * flavour the top-level `measurement_inputs` of an image.json written before flavours existed.
 */
function flavourInputs(file: string, doc: unknown, flavour: string): { m: Inputs | undefined; at: string } {
  const d = doc as { measurement_inputs?: Inputs; flavours?: Record<string, { measurement_inputs?: Inputs }> } | null;
  const flavours = d?.flavours;
  if (flavours && typeof flavours === "object") {
    const f = flavours[flavour];
    if (!f) {
      const built = Object.keys(flavours).join(", ");
      throw new CliError(`${file}: expected the ${flavour} flavour in "flavours", found only ${built || "none"} (build it with \`bun run images -- --flavour ${flavour}\`)`);
    }
    return { m: f.measurement_inputs, at: `flavours.${flavour}.measurement_inputs` };
  }
  if (flavour !== "minimal") throw new CliError(`${file}: expected a "flavours" section with the ${flavour} flavour, found none (an image.json from before flavours: only the minimal flavour)`);
  return { m: d?.measurement_inputs, at: "measurement_inputs" };
}

/** The measurement inputs of an image.json (schema cocos-image/v1); clear errors for anything else. */
function measurementInputs(file: string, text: string, flavour: string): { kernelSha256: string; initrdSha256: string; cmdline: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file}: expected image.json (JSON written by \`bun run images\`), got unparsable text: ${(e as Error).message}`);
  }
  const { m, at } = flavourInputs(file, doc, flavour);
  if (!m || typeof m !== "object") throw new CliError(`${file}: expected an image.json with "${at}", found none`);
  const field = (name: string, ok: (v: unknown) => boolean, what: string) => {
    const v = m[name];
    if (!ok(v)) throw new CliError(`${file}: ${at}.${name}: expected ${what}, got ${JSON.stringify(v)}`);
    return v as string;
  };
  return {
    kernelSha256: field("kernel_sha256", (v) => typeof v === "string" && SHA256_HEX.test(v), "a SHA-256 in hex (64 characters)"),
    initrdSha256: field("initrd_sha256", (v) => typeof v === "string" && SHA256_HEX.test(v), "a SHA-256 in hex (64 characters)"),
    cmdline: field("cmdline", (v) => typeof v === "string" && v.length > 0, "the kernel command line"),
  };
}

/** `append`: the settings after the image's command line, exactly as the manager passes them;
 *  `flavour`: the initramfs the manager boots (MANAGER_QEMU_IMAGE_FLAVOUR). */
export function imageMeasurement(file: string, append = "", flavour = "minimal"): ImageMeasurement {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new CliError(`could not read the image description ${file}: ${(e as Error).message}`);
  }
  const inputs = measurementInputs(file, text, flavour);
  const extra = append.trim();
  const cmdline = extra ? `${inputs.cmdline} ${extra}` : inputs.cmdline;
  const measurement = simMeasurement({
    kernelSha256: Buffer.from(inputs.kernelSha256, "hex"),
    initrdSha256: Buffer.from(inputs.initrdSha256, "hex"),
    cmdline,
  });
  return { measurement, cmdline };
}
