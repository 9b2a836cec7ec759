// The decryption transform for a resource the manifest declares encrypted (Cocos v0.10
// `source.encrypted` with `kbs`), keyed by the KBS. Keys stay in this process's memory, one per
// resource, fetched once after attestation.
import type { KbsConfig, ResourceSource } from "../protocol/manifest.ts";
import { SEALED_KEY_BYTES } from "../protocol/sealed-file.ts";
import { Decryption } from "./decrypting-upload.ts";
import { AgentError, failedPrecondition } from "./errors.ts";
import type { ByteSink, InputTransform } from "./input-session.ts";
import { KbsClient, KbsError } from "./kbs-client.ts";
import type { Logger } from "./log.ts";
import { status } from "@grpc/grpc-js";

export interface SealedResource {
  source?: ResourceSource;
  kbs?: KbsConfig;
}

export class SealedInputs {
  private keys = new Map<string, Promise<Uint8Array>>();

  /**
   * `client` is null when the agent has no evidence provider (no key broker releases to it);
   * `event` publishes a KeyRelease event status (Completed / Failed) to the host.
   */
  constructor(private readonly client: () => KbsClient | null, private readonly log: Logger, private readonly event: (status: string) => void = () => {}) {}

  /** Decrypts `r` (declared encrypted) into `into`; `what` names it in errors: "algorithm", "dataset iris.csv". */
  async decryption(r: SealedResource, what: string, into: ByteSink): Promise<InputTransform> {
    return new Decryption(what, await this.keyFor(r, what), into);
  }

  private keyFor(r: SealedResource, what: string): Promise<Uint8Array> {
    const id = `${r.kbs!.url}#${r.source!.kbs_resource_path}`;
    let p = this.keys.get(id);
    if (!p) {
      p = this.fetch(r, what);
      this.keys.set(id, p);
      // A failed release is not cached: the party may retry once the broker answers.
      p.catch(() => this.keys.delete(id));
    }
    return p;
  }

  private async fetch(r: SealedResource, what: string): Promise<Uint8Array> {
    const client = this.client();
    const url = r.kbs!.url!;
    const path = r.source!.kbs_resource_path!;
    if (!client) throw failedPrecondition(`${what} is declared encrypted, but this agent has no attestation evidence provider, so no key broker can release its key`);
    this.log.info("requesting key from KBS", { resource: what, kbs: url, path });
    let key: Uint8Array;
    try {
      key = await client.getResource(url, path);
    } catch (err) {
      if (!(err instanceof KbsError)) throw err;
      const code = err.retryable ? status.UNAVAILABLE : err.status === 403 || err.status === 401 ? status.PERMISSION_DENIED : status.FAILED_PRECONDITION;
      this.log.warn("KBS key release failed", { resource: what, kbs: url, error: err.message });
      this.event("Failed");
      throw new AgentError(code, `key release for ${what} failed: ${err.message}`);
    }
    if (key.byteLength !== SEALED_KEY_BYTES) {
      throw failedPrecondition(`key release for ${what}: expected a ${SEALED_KEY_BYTES}-byte AES-256-GCM key from KBS resource ${path}, received ${key.byteLength} bytes`);
    }
    this.log.info("key released by KBS", { resource: what, kbs: url });
    this.event("Completed");
    return key;
  }
}
