// Seals the results archive to the manifest's consumers (manifest `seal_results`), so whatever
// carries it after the agent (the manager, a relay, storage) holds ciphertext only. Format and key
// wrapping: protocol/sealed.ts. A fresh content key and IV per archive; both leave memory with it.
import { createCipheriv, randomBytes } from "node:crypto";
import { loadPublicKey } from "../protocol/keys.ts";
import { encodePrefix, wrapFor, type SealedHeader } from "../protocol/sealed.ts";

export async function sealResults(zip: Uint8Array, consumers: { user_key: Uint8Array }[]): Promise<Uint8Array> {
  if (consumers.length === 0) throw new Error("seal_results is set but the manifest declares no result consumer");
  const cek = randomBytes(32);
  const iv = randomBytes(12);
  const recipients = await Promise.all(consumers.map((c) => wrapFor(loadPublicKey(c.user_key), cek)));
  const header: SealedHeader = { v: 1, aead: "A256GCM", iv: iv.toString("base64"), recipients };
  const prefix = encodePrefix(header);
  const cipher = createCipheriv("aes-256-gcm", cek, iv);
  cipher.setAAD(prefix);
  const body = Buffer.concat([cipher.update(zip), cipher.final(), cipher.getAuthTag()]);
  cek.fill(0);
  return Buffer.concat([prefix, body]);
}
