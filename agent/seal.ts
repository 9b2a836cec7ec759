// Seals the results archive to the manifest's consumers (manifest `seal_results`), so whatever
// carries it after the agent (the manager, a relay, storage) holds ciphertext only. Format and key
// wrapping: protocol/sealed.ts.
import { loadPublicKey } from "../protocol/keys.ts";
import { sealBytes } from "../protocol/sealed.ts";

export function sealResults(zip: Uint8Array, consumers: { user_key: Uint8Array }[]): Promise<Uint8Array> {
  if (consumers.length === 0) throw new Error("seal_results is set but the manifest declares no result consumer");
  return sealBytes(zip, consumers.map((c) => loadPublicKey(c.user_key)));
}
