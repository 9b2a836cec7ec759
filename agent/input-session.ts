// One input on its way in: an algorithm or a dataset, from an upload stream or a remote fetch, maybe
// through a transform (decryption). The computation opens a session once the caller and the state
// allow the input (authentication, role, state: checked before any byte is read); bytes then go
// source → transform(s) → temp file (size limit, SHA3-256, hash-writer.ts); `commit` runs the
// manifest checks (which input, hash, order, duplicates, role) and moves the file into place;
// `discard` (any refusal) removes what this session wrote and nothing else, so inputs already
// received stay. The gRPC layer only maps wire messages onto `receive`.
import { invalidArgument } from "./errors.ts";
import { TempUpload } from "./upload.ts";

/** Where a source puts bytes. `transferable`: the caller will not touch the chunk again (see HashWriter.write). */
export interface ByteSink {
  write(chunk: Uint8Array, transferable?: boolean): Promise<void>;
}

/** A step between the source and the file (e.g. decryption): `end` flushes it and verifies what it must. */
export interface InputTransform extends ByteSink {
  end(): Promise<void>;
}

/** Builds the transform for an input into `file`, or null for plaintext (Computation.transformFor). */
export type TransformFactory = (file: ByteSink) => Promise<InputTransform | null>;

/** The first bytes of the plaintext (the remote algorithm's type is guessed from them). */
const HEAD_BYTES = 4;

/** One file of an input: its transform chain and temp file, opened at the first byte. */
export class InputFile implements ByteSink {
  private file: TempUpload | null = null;
  private sink: ByteSink | null = null;
  private transform: InputTransform | null = null;
  private opening: Promise<void> | null = null;
  head = new Uint8Array(0);

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly what: string,
    private readonly transformFor: TransformFactory = async () => null,
  ) {}

  /** Plaintext bytes stored so far. */
  get size(): number {
    return this.file?.size ?? 0;
  }

  get path(): string {
    return this.open().path;
  }

  private open(): TempUpload {
    this.file ??= new TempUpload(this.dir, this.maxBytes, this.what);
    return this.file;
  }

  /** The file behind the transform, remembering the plaintext's first bytes. */
  private plaintextSink(): ByteSink {
    const file = this.open();
    return {
      write: (chunk, transferable) => {
        if (this.head.byteLength < HEAD_BYTES) this.head = Buffer.concat([this.head, chunk.subarray(0, HEAD_BYTES - this.head.byteLength)]);
        return file.write(chunk, transferable);
      },
    };
  }

  private ready(): Promise<void> {
    this.opening ??= (async () => {
      const plain = this.plaintextSink();
      this.transform = await this.transformFor(plain);
      this.sink = this.transform ?? plain;
    })();
    return this.opening;
  }

  async write(chunk: Uint8Array, transferable = false): Promise<void> {
    if (chunk.byteLength === 0) return;
    if (!this.sink) await this.ready();
    await this.sink!.write(chunk, transferable);
  }

  /** Ends the transform, closes the file and returns the plaintext's SHA3-256 (an empty input is hashed too). */
  async finish(): Promise<Uint8Array> {
    await this.ready();
    await this.transform?.end();
    return this.open().finish();
  }

  async discard(): Promise<void> {
    await this.opening?.catch(() => {});
    await this.file?.discard();
  }
}

/** Common shape of the two sessions: a source writes, then commits or discards. */
export interface InputSession<Message> {
  /** One wire message of the upload stream. */
  receive(m: Message): Promise<void>;
  /** The manifest checks, then the input moves into place; returns the bytes accepted. */
  commit(): Promise<number>;
  discard(): Promise<void>;
}

export interface AlgoMessage {
  algorithm?: Uint8Array;
  requirements?: Uint8Array;
}

/** What the computation does when an algorithm session commits (Computation.acceptAlgorithm). */
export type AcceptAlgorithm = (algo: InputFile, hash: Uint8Array, requirements: InputFile | null) => Promise<void>;

export class AlgorithmSession implements InputSession<AlgoMessage> {
  constructor(
    readonly algorithm: InputFile,
    readonly requirements: InputFile,
    private readonly accept: AcceptAlgorithm,
  ) {}

  async receive(m: AlgoMessage): Promise<void> {
    // gRPC message buffers are allocated per message and dropped after decoding: theirs to give.
    if (m.requirements?.length) await this.requirements.write(m.requirements, true);
    if (m.algorithm?.length) await this.algorithm.write(m.algorithm, true);
  }

  write(chunk: Uint8Array, transferable = false): Promise<void> {
    return this.algorithm.write(chunk, transferable);
  }

  async commit(): Promise<number> {
    const hash = await this.algorithm.finish();
    // Cocos does not hash requirements (the manifest has no field for them); none sent, no file.
    const requirements = this.requirements.size > 0 ? this.requirements : null;
    await requirements?.finish();
    if (this.algorithm.size === 0) throw invalidArgument("algorithm binary is required: received 0 bytes");
    await this.accept(this.algorithm, hash, requirements);
    return this.algorithm.size;
  }

  async discard(): Promise<void> {
    await Promise.all([this.algorithm.discard(), this.requirements.discard()]);
  }
}

export interface DataMessage {
  dataset?: Uint8Array;
  filename?: string;
}

/** Checks a filename as it arrives, and opens the dataset's file (its transform is found by the name). */
export interface DatasetRules {
  checkFilename(name: string): void;
  fileFor(name: string): InputFile;
  accept(filename: string, file: InputFile, hash: Uint8Array): Promise<void>;
}

export class DatasetSession implements InputSession<DataMessage> {
  private file: InputFile | null = null;

  /** `filename` is known up front for a remote source; an upload names it in its messages. */
  constructor(
    private readonly rules: DatasetRules,
    private filename = "",
  ) {}

  async receive(m: DataMessage): Promise<void> {
    if (m.filename && m.filename !== this.filename) this.name(m.filename);
    if (m.dataset?.length) await this.write(m.dataset, true);
  }

  private name(filename: string): void {
    this.rules.checkFilename(filename);
    // Bytes already went to the file opened for the earlier name: it stays the one.
    this.filename = filename;
  }

  /** Opened at the first bytes, once the filename is known (an encrypted dataset's key is found by it). */
  write(chunk: Uint8Array, transferable = false): Promise<void> {
    this.file ??= this.rules.fileFor(this.filename);
    return this.file.write(chunk, transferable);
  }

  async commit(): Promise<number> {
    if (!this.filename) throw invalidArgument("dataset filename is required: no DataRequest carried a filename");
    const file = (this.file ??= this.rules.fileFor(this.filename));
    const hash = await file.finish();
    if (file.size === 0) throw invalidArgument("dataset is required: received 0 bytes");
    await this.rules.accept(this.filename, file, hash);
    return file.size;
  }

  async discard(): Promise<void> {
    await this.file?.discard();
  }
}
