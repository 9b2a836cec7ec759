// Worker side of agent/hash-writer.ts: opens, hashes (SHA3-256) and writes upload files off the
// main thread. Hashes with the system OpenSSL (libcrypto via bun:ffi) when it loads and agrees with
// Bun's implementation and the FIPS 202 vector — about 1.3× faster — else with Bun.CryptoHasher.
// This thread only hashes: the writes go to Bun's I/O pool, since hashing is the upload's slowest
// stage and a write on this thread would add its copy into the file to every chunk (bench/upload.ts).
import { closeSync, openSync, rmSync, write } from "node:fs";

declare const self: Worker;

interface Sha3 {
  update(b: Uint8Array): void;
  digest(): Uint8Array;
  free(): void;
}

// SHA3-256("abc"), FIPS 202 example.
const ABC = "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532";

function libcryptoSha3(): (() => Sha3) | null {
  try {
    const { dlopen, FFIType, ptr } = require("bun:ffi") as typeof import("bun:ffi");
    const P = FFIType.ptr;
    const fns = {
      EVP_get_digestbyname: { args: [P], returns: P },
      EVP_MD_CTX_new: { args: [], returns: P },
      EVP_MD_CTX_free: { args: [P], returns: FFIType.void },
      EVP_DigestInit_ex: { args: [P, P, P], returns: FFIType.i32 },
      EVP_DigestUpdate: { args: [P, P, FFIType.u64], returns: FFIType.i32 },
      EVP_DigestFinal_ex: { args: [P, P, P], returns: FFIType.i32 },
    } as const;
    let lib: ReturnType<typeof dlopen<typeof fns>> | null = null;
    for (const name of ["libcrypto.so.3", "libcrypto.so"]) {
      try {
        lib = dlopen(name, fns);
        break;
      } catch {}
    }
    if (!lib) return null;
    const s = lib.symbols;
    const md = s.EVP_get_digestbyname(ptr(Buffer.from("SHA3-256\0")));
    if (!md) return null;
    const make = (): Sha3 => {
      let ctx = s.EVP_MD_CTX_new();
      if (!ctx || s.EVP_DigestInit_ex(ctx, md, null) !== 1) throw new Error("libcrypto EVP_DigestInit_ex(SHA3-256) failed");
      return {
        update(b) {
          if (b.byteLength > 0 && s.EVP_DigestUpdate(ctx, b, b.byteLength) !== 1) throw new Error("libcrypto EVP_DigestUpdate failed");
        },
        digest() {
          const out = new Uint8Array(32);
          const ok = s.EVP_DigestFinal_ex(ctx, out, null);
          this.free();
          if (ok !== 1) throw new Error("libcrypto EVP_DigestFinal_ex failed");
          return out;
        },
        free() {
          if (ctx) s.EVP_MD_CTX_free(ctx);
          ctx = null;
        },
      };
    };
    // Used only if it agrees with Bun's implementation (over split updates) and with the FIPS 202 vector.
    const probe = new Uint8Array(300000).map((_, i) => (i * 2654435761) >>> 24);
    const a = make();
    a.update(probe.subarray(0, 1234));
    a.update(probe.subarray(1234));
    const mine = Buffer.from(a.digest()).toString("hex");
    const abc = make();
    abc.update(Buffer.from("abc"));
    const bun = new Bun.CryptoHasher("sha3-256").update(probe).digest("hex");
    if (mine !== bun || Buffer.from(abc.digest()).toString("hex") !== ABC) return null;
    return make;
  } catch {
    return null;
  }
}

function bunSha3(): Sha3 {
  const h = new Bun.CryptoHasher("sha3-256");
  return { update: (b) => void h.update(b), digest: () => new Uint8Array(h.digest().buffer), free() {} };
}

const native = libcryptoSha3();
const newHasher = native ?? bunSha3;
postMessage({ ready: native ? "libcrypto" : "bun" });

type Op =
  | { op: "open"; id: number; path: string }
  | { op: "write"; id: number; path: string; buf: ArrayBuffer; offset: number; length: number }
  | { op: "finish"; id: number; path: string }
  | { op: "discard"; id: number; path: string };

interface OpenFile {
  fd: number;
  h: Sha3;
  /** Where the next chunk goes: writes are positional, so they may complete in any order. */
  pos: number;
  /** Writes issued and not yet completed, and what waits for them (closing the file). */
  pending: number;
  idle: (() => void)[];
}

/** Positional write of all of `b` on Bun's I/O pool, so the copy into the file overlaps the next chunk's hashing. */
function writeAt(fd: number, b: Uint8Array, pos: number, done: (err: Error | null) => void): void {
  write(fd, b, 0, b.byteLength, pos, (err, n) => {
    if (err) return done(err);
    if (n < b.byteLength) return writeAt(fd, b.subarray(n), pos + n, done);
    done(null);
  });
}

/** Runs `fn` once every write issued for `f` has completed (a file is closed only after its last write). */
function afterWrites(f: OpenFile | undefined, fn: () => void): void {
  if (!f || f.pending === 0) fn();
  else f.idle.push(fn);
}

function reportError(id: number, e: unknown): void {
  postMessage({ id, error: String((e as Error)?.message ?? e) });
}

/** `fn`, with a throw reported as the file's error. */
function guarded(id: number, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    reportError(id, e);
  }
}

// Messages of one file arrive in order, so a discard can never be overtaken by a late open or write.
// Each chunk is hashed here in arrival order; its write is acknowledged once hashed and in the file.
const files = new Map<number, OpenFile>();
self.onmessage = ({ data: m }: MessageEvent<Op>) => {
  const f = files.get(m.id);
  guarded(m.id, () => {
    switch (m.op) {
      case "open":
        files.set(m.id, { fd: openSync(m.path, "wx", 0o600), h: newHasher(), pos: 0, pending: 0, idle: [] });
        return;
      case "write": {
        const b = new Uint8Array(m.buf, m.offset, m.length);
        const file = f!;
        file.pending++;
        writeAt(file.fd, b, file.pos, (err) => {
          file.pending--;
          if (err) reportError(m.id, err);
          else postMessage({ id: m.id, ack: b.byteLength });
          if (file.pending === 0) for (const fn of file.idle.splice(0)) guarded(m.id, fn);
        });
        file.pos += b.byteLength;
        file.h.update(b);
        return;
      }
      case "finish":
        files.delete(m.id);
        afterWrites(f, () => {
          closeSync(f!.fd);
          postMessage({ id: m.id, hash: f!.h.digest() });
        });
        return;
      case "discard":
        files.delete(m.id);
        afterWrites(f, () => {
          if (f) {
            f.h.free();
            closeSync(f.fd);
          }
          rmSync(m.path, { force: true });
          postMessage({ id: m.id, discarded: true });
        });
        return;
    }
  });
};
