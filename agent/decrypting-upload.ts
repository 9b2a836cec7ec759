// The decrypting sink: an upload declared encrypted arrives as Cocos-format ciphertext and is
// decrypted while it streams in; only plaintext reaches the temp file and its SHA3-256. Nothing is
// committed until the GCM tag at the very end verifies: `finish` throws before the hash is known,
// and the caller discards the file (as for any refused upload).
import { SealedDecryptor, SealedFileError } from "../protocol/sealed-file.ts";
import { invalidArgument } from "./errors.ts";
import { TempUpload } from "./upload.ts";

export class DecryptingUpload extends TempUpload {
  private readonly decryptor: SealedDecryptor;

  /** `maxBytes` bounds the plaintext, like a plain upload's. */
  constructor(dir: string, maxBytes: number, private readonly label: string, key: Uint8Array, private readonly why = "is declared encrypted in the manifest") {
    super(dir, maxBytes, label);
    this.decryptor = new SealedDecryptor(key);
  }

  override async write(chunk: Uint8Array): Promise<void> {
    if (chunk.length === 0) return;
    await super.write(this.decryptor.update(chunk));
  }

  override async finish(): Promise<Uint8Array> {
    let rest: Uint8Array;
    try {
      rest = this.decryptor.final();
    } catch (err) {
      if (err instanceof SealedFileError) throw invalidArgument(`${this.label} ${this.why}: ${err.message}`);
      throw err;
    }
    await super.write(rest);
    return super.finish();
  }
}
