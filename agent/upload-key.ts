// The agent's upload key: an HPKE key pair made at start (new per boot, the private half never
// leaves this process's memory and is never logged), bound into evidence with the agent's TLS key
// (attestation/browser/upload-key.ts), so a party that verified the evidence can encrypt an input
// to this enclave and send it through any relay (the console's browser upload). A sealed upload is
// Cocos's AES-256-GCM file format (protocol/sealed-file.ts) under a fresh key, that key HPKE-wrapped
// to the upload key in the `cocos-sealed-key` metadata, which the v2 signature covers.
import type { Evidence, EvidenceProvider } from "../attestation/providers/types.ts";
import { padReportData } from "../attestation/providers/types.ts";
import { signedEvidence } from "../attestation/report-data.ts";
import {
  MD_TLS_SPKI_SHA3, MD_UPLOAD_KEY, PURPOSE_UPLOAD_KEY, UploadKeyError, unwrapUploadKey, uploadInfo, uploadSuite, type UploadRole,
} from "../attestation/browser/upload-key.ts";
import { fromHex } from "../protocol/hash.ts";
import { MD_SEALED_KEY } from "../protocol/request-message.ts";
import { mdValues, type MetadataLike } from "../protocol/signature.ts";
import type { Manifest } from "../protocol/manifest.ts";
import type { Caller } from "./computation.ts";
import { Decryption } from "./decrypting-upload.ts";
import { failedPrecondition, invalidArgument, unauthenticated } from "./errors.ts";
import type { ByteSink, InputTransform } from "./input-session.ts";

export class UploadKey {
  private readonly pair: Promise<{ privateKey: CryptoKey; publicKey: Uint8Array }>;

  constructor() {
    this.pair = (async () => {
      const kem = uploadSuite().kem;
      const kp = await kem.generateKeyPair();
      return { privateKey: kp.privateKey, publicKey: new Uint8Array(await kem.serializePublicKey(kp.publicKey)) };
    })();
  }

  async publicKey(): Promise<Uint8Array> {
    return (await this.pair).publicKey;
  }

  /** Evidence binding this key and the TLS SPKI hash (the v2 audience, "" without TLS) to the caller's nonce. */
  async evidence(provider: EvidenceProvider, nonce: Uint8Array, audience: string): Promise<{ evidence: Evidence; publicKey: Uint8Array; spkiSha3: Uint8Array }> {
    const publicKey = await this.publicKey();
    const spkiSha3 = fromHex(audience);
    // The digest the verifier computes with uploadKeyReportData (upload-key.test.ts checks they agree).
    const evidence = await signedEvidence(provider, "upload-key", padReportData(nonce), publicKey, spkiSha3);
    return { evidence, publicKey, spkiSha3 };
  }

  /** The content key of a sealed upload, for this computation and input only. */
  async unwrap(sealedB64: string, computationId: string, role: UploadRole, name: string): Promise<Uint8Array> {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(sealedB64)) throw invalidArgument(`${MD_SEALED_KEY}: expected base64 of the HPKE enc ‖ wrapped key, got ${JSON.stringify(sealedB64.slice(0, 40))}`);
    try {
      return await unwrapUploadKey((await this.pair).privateKey, new Uint8Array(Buffer.from(sealedB64, "base64")), uploadInfo(computationId, role, name));
    } catch (err) {
      if (err instanceof UploadKeyError) throw invalidArgument(`${MD_SEALED_KEY} refused for ${role} upload ${JSON.stringify(name)} of computation ${computationId}: ${err.message}`);
      throw err;
    }
  }
}

/** The Attestation RPC's report: its own (the caller's nonce), or, on request, the upload key's binding. */
export async function attestationReport(purpose: string, key: UploadKey | undefined, provider: EvidenceProvider, nonce: Uint8Array, audience: string): Promise<{ evidence: Evidence; metadata: Record<string, string> }> {
  if (purpose === "") return { evidence: await signedEvidence(provider, "attestation-rpc", padReportData(nonce)), metadata: {} };
  if (purpose !== PURPOSE_UPLOAD_KEY) throw invalidArgument(`unknown report purpose ${JSON.stringify(purpose.slice(0, 40))}: expected none or ${JSON.stringify(PURPOSE_UPLOAD_KEY)}`);
  if (!key) throw failedPrecondition("this agent has no upload key");
  const r = await key.evidence(provider, nonce, audience);
  return { evidence: r.evidence, metadata: { [MD_UPLOAD_KEY]: Buffer.from(r.publicKey).toString("base64"), [MD_TLS_SPKI_SHA3]: audience } };
}

function sealedKeyOf(md: MetadataLike): string | undefined {
  const list = mdValues(md, MD_SEALED_KEY);
  if (list.length > 1) throw invalidArgument(`expected at most one ${MD_SEALED_KEY} metadata value, got ${list.length}`);
  return list[0];
}

/** The upload a sealed key would open: who sent it, for which computation and input. */
export interface SealedTarget {
  md: MetadataLike;
  caller: Caller;
  manifest: Manifest;
  role: UploadRole;
  /** The dataset's filename, or "algorithm". */
  name: string;
}

/**
 * The upload's decryption when the call carries a sealed key (null when it does not). The plaintext
 * then goes through the same size limit and manifest SHA3-256 check as any input.
 */
export async function sealedDecryption(key: UploadKey | undefined, t: SealedTarget, into: ByteSink): Promise<InputTransform | null> {
  const sealed = sealedKeyOf(t.md);
  if (sealed === undefined) return null;
  if (!key) throw failedPrecondition("this agent has no upload key: send the input without cocos-sealed-key");
  // A v1 signature covers only the role: the wrapped key would be unsigned, a relay could swap it.
  if (t.caller.version !== 2) throw unauthenticated(`a sealed upload (${MD_SEALED_KEY}) needs a v2 signature, which covers the sealed key; got a v1 role signature`);
  const m = t.manifest;
  const entry = t.role === "algorithm-provider" ? m.algorithm : m.datasets.find((d) => d.filename === t.name);
  if (entry?.source?.encrypted) throw failedPrecondition(`${t.name} is declared KBS-encrypted in the manifest: upload its ciphertext without ${MD_SEALED_KEY}`);
  const aesKey = await key.unwrap(sealed, m.id, t.role, t.name);
  const what = t.role === "algorithm-provider" ? "the algorithm" : `dataset ${t.name}`;
  return new Decryption(what, aesKey, into, "was sealed to the upload key");
}
