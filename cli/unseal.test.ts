// The host, the manager or a relay holds a sealed result: only a consumer's private key opens it,
// and any change to header, content or tag is detected with nothing saved.
import { afterAll, expect, test } from "bun:test";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zipSync } from "fflate";
import { decodePrefix, isSealed, sealBytes } from "../protocol/sealed.ts";
import { CliError } from "./errors.ts";
import { isZip } from "./agent-client.ts";
import { unsealFile } from "./unseal.ts";

const dir = mkdtempSync(join(tmpdir(), "unseal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const keys: Record<string, KeyObject> = {
  rsa: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey,
  ecdsa: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
  ed25519: generateKeyPairSync("ed25519").privateKey,
};
const outsider = generateKeyPairSync("ed25519").privateKey;
const zip = zipSync({ "model.json": new TextEncoder().encode('{"weights":[0.12,0.34]}') });

let n = 0;
async function sealedFile(bytes?: Uint8Array): Promise<string> {
  const p = join(dir, `sealed-${n++}`);
  writeFileSync(p, bytes ?? (await sealBytes(zip, Object.values(keys))));
  return p;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => null, (x) => x);
  expect(e).toBeInstanceOf(CliError);
  return (e as Error).message;
}

test("every consumer (RSA, ECDSA P-256, Ed25519) opens the sealed archive with its own private key", async () => {
  const sealed = await sealedFile();
  const bytes = readFileSync(sealed);
  expect(isSealed(bytes)).toBe(true);
  expect(isZip(bytes)).toBe(false);
  expect(bytes.includes(Buffer.from("weights"))).toBe(false);
  const { header } = decodePrefix(bytes);
  expect(header.recipients.map((r) => r.alg)).toEqual(["RSA-OAEP-256", "HPKE-P256-SHA256-A256GCM", "HPKE-X25519-SHA256-A256GCM"]);
  for (const [name, key] of Object.entries(keys)) {
    const out = join(dir, `open-${name}.zip`);
    expect(await unsealFile(sealed, out, key)).toBe(zip.byteLength);
    expect(readFileSync(out).equals(Buffer.from(zip))).toBe(true);
  }
});

test("a non-consumer's key (the host's, a relay's) cannot open it, and nothing is saved", async () => {
  const out = join(dir, "outsider.zip");
  expect(await refusal(unsealFile(await sealedFile(), out, outsider))).toContain("is not one of them");
  expect(existsSync(out)).toBe(false);
});

test("a recipient entry relabelled with the outsider's key id does not open with the outsider's key", async () => {
  const bytes = Buffer.from(await sealBytes(zip, [keys.ed25519!]));
  const { header, prefixBytes } = decodePrefix(bytes);
  const { keyId } = await import("../protocol/sealed.ts");
  const forged = { ...header, recipients: [{ ...header.recipients[0]!, kid: keyId(outsider) }] };
  const json = Buffer.from(JSON.stringify(forged));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.byteLength);
  const out = join(dir, "relabelled.zip");
  const m = await refusal(unsealFile(await sealedFile(Buffer.concat([bytes.subarray(0, 8), len, json, bytes.subarray(prefixBytes)])), out, outsider));
  expect(m).toContain("does not open with the given private key");
  expect(existsSync(out)).toBe(false);
});

test("a flipped bit in the header, the content or the tag, or a truncation, is detected", async () => {
  const good = readFileSync(await sealedFile());
  const { prefixBytes } = decodePrefix(good);
  const ivAt = good.indexOf(Buffer.from('"iv":"')) + 6;
  const cases: [string, Buffer][] = [
    ["header (iv)", Buffer.from(good).fill(good[ivAt] === 0x41 ? 0x42 : 0x41, ivAt, ivAt + 1)],
    ["content", (() => { const b = Buffer.from(good); b[prefixBytes + 3]! ^= 1; return b; })()],
    ["tag", (() => { const b = Buffer.from(good); b[b.length - 1]! ^= 0x80; return b; })()],
    ["truncated", good.subarray(0, good.length - 5)],
  ];
  for (const [what, bytes] of cases) {
    const out = join(dir, `tampered-${what}.zip`);
    const m = await refusal(unsealFile(await sealedFile(bytes), out, keys.ecdsa!));
    expect(m, what).toContain("failed authentication");
    expect(existsSync(out), what).toBe(false);
  }
});
