// The attestation policy for server-side callers: the JSON model (policy-json.ts) plus reading and
// writing policy files and the manifest → host_data binding.
import { formatPolicy, parsePolicy, type AttestationPolicy } from "./policy-json.ts";
import { manifestHash, parseManifest, type Manifest } from "../protocol/manifest.ts";

export * from "./policy-json.ts";

export async function readPolicy(path: string): Promise<AttestationPolicy> {
  return parsePolicy(await Bun.file(path).text());
}

export async function writePolicy(path: string, p: AttestationPolicy): Promise<void> {
  await Bun.write(path, formatPolicy(p));
}

/** Expected host_data: SHA3-256 of the manifest's canonical JSON (what the manager binds at launch). */
export function hostDataForManifest(m: Manifest | string | object): Uint8Array {
  const parsed = typeof m === "object" && (m as Manifest).algorithm?.hash instanceof Uint8Array ? (m as Manifest) : parseManifest(m);
  return manifestHash(parsed);
}
