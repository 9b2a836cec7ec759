// The decrypting transform: an input declared encrypted arrives as Cocos-format ciphertext and is
// decrypted while it streams in; only plaintext reaches the temp file and its SHA3-256. Nothing is
// committed until the GCM tag at the very end verifies: `end` throws before the hash is known, and
// the session discards the file (as for any refused input).
import { SealedDecryptor, SealedFileError } from "../protocol/sealed-file.ts";
import { invalidArgument } from "./errors.ts";
import type { ByteSink, InputTransform } from "./input-session.ts";

export class Decryption implements InputTransform {
  private readonly decryptor: SealedDecryptor;

  /**
   * `label` names the input in errors ("dataset iris.csv"), `why` says where its key came from; the
   * file behind `into` bounds the plaintext.
   */
  constructor(
    private readonly label: string,
    key: Uint8Array,
    private readonly into: ByteSink,
    private readonly why = "is declared encrypted in the manifest",
  ) {
    this.decryptor = new SealedDecryptor(key);
  }

  write(chunk: Uint8Array): Promise<void> {
    // The plaintext is a fresh buffer of the decipher's: the file may take it without a copy.
    return this.into.write(this.decryptor.update(chunk), true);
  }

  async end(): Promise<void> {
    let rest: Uint8Array;
    try {
      rest = this.decryptor.final();
    } catch (err) {
      if (err instanceof SealedFileError) throw invalidArgument(`${this.label} ${this.why}: ${err.message}`);
      throw err;
    }
    await this.into.write(rest, true);
  }
}
