// The agent on a measured read-only disk: an erofs filesystem holding the agent binary and ONNX
// Runtime, followed by its dm-verity hash tree, attached to the VM as a read-only virtio-blk disk.
// The verity parameters (root hash, salt, block counts) travel on the kernel command line, so the
// launch measurement covers the disk's every byte without the disk being measured itself; /init
// opens the verity device and mounts it read-only before it starts the agent (images/init.sh), and
// a block the host changed reads back as an I/O error.
// Booting this way spares the guest the copy and unpack of a 130 MB initramfs: only the pages the
// agent touches are read, and each is checked against the tree when it is.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** Disk and hash-tree block size (the page size: erofs needs it, dm-verity checks one per read). */
export const VERITY_BLOCK = 4096;
/** Fixed filesystem UUID: the disk's bytes depend only on its files (reproducible builds). */
export const EROFS_UUID = "c0c05000-0000-4000-8000-000000000001";
/** Where /init mounts the disk; the agent finds ONNX Runtime in onnxruntime/ beside itself. */
export const AGENT_DISK_MOUNT = "/opt/cocos";
/** Kernel modules the disk layout needs on top of the image's (dependencies are added). */
// crc32c_generic: libcrc32c (erofs) asks the crypto API for "crc32c", and the guest has no modprobe to load it.
export const AGENT_DISK_MODULES = ["virtio_blk", "blake2b_generic", "dm_verity", "crc32c_generic", "erofs"];

export interface DiskFile {
  /** Path inside the disk, e.g. "cocos-agent" or "onnxruntime/libonnxruntime.so.1". */
  path: string;
  data: Uint8Array;
  mode: number;
}

export interface VerityParams {
  /** Blocks of the erofs filesystem (dm-verity's data device is the disk's first data_blocks). */
  data_blocks: number;
  /** The hash tree's first block on the same disk (no verity superblock: everything is on the command line). */
  hash_start_block: number;
  /** The kernel crypto API's name of the tree's hash. */
  hash: string;
  root_hash: string;
  salt: string;
}

export interface AgentDisk {
  image: Uint8Array;
  verity: VerityParams;
}

function run(cmd: string[]): void {
  let r: ReturnType<typeof Bun.spawnSync>;
  try {
    r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  } catch {
    throw new Error(`expected ${cmd[0]} on PATH for the agent disk (Debian package erofs-utils), found none`);
  }
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed with exit status ${r.exitCode}: ${r.stderr!.toString().trim()}`);
}

/** erofs image of `files`, every timestamp `mtime`, owned by root, no xattrs: same files, same bytes. */
function erofsImage(files: DiskFile[], mtime: number, work: string): Uint8Array {
  const src = join(work, "root");
  for (const f of files) {
    const p = join(src, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.data, { mode: f.mode });
  }
  const out = join(work, "disk.erofs");
  run(["mkfs.erofs", "--quiet", `-T${mtime}`, `-U${EROFS_UUID}`, "--all-root", "-x-1", out, src]);
  return new Uint8Array(readFileSync(out));
}

/** Names of one hash in the kernel's crypto API (the dm-verity table) and in Bun.CryptoHasher. */
export interface VerityHash {
  kernel: string;
  bun: "sha256" | "blake2b256";
}
/** BLAKE2b-256 (collision resistance of SHA-256) because the guest checks every block it reads with
 *  it: blake2b-256-generic hashes ~110 MB/s under TCG against sha256-generic's ~48 MB/s, and the
 *  x86 SHA-256 drivers (sha256_ssse3: avx2) do no better there (tcrypt in the guest, images/README.md). */
export const VERITY_HASH: VerityHash = { kernel: "blake2b-256", bun: "blake2b256" };

/**
 * dm-verity's hash tree, format version 1 (the kernel's Documentation/admin-guide/device-mapper/
 * verity.rst): every data block hashed as H(salt || block), the digests packed into zero-padded
 * blocks, each level hashed the same way until one block remains, whose hash is the root. On disk
 * the top level comes first. 32-byte digests only (128 per block, no per-digest padding).
 */
export function verityTree(data: Uint8Array, salt: Uint8Array, hash: VerityHash = VERITY_HASH): { tree: Uint8Array; root: string } {
  if (data.length % VERITY_BLOCK || data.length < 2 * VERITY_BLOCK) throw new Error(`verity data of ${data.length} bytes: expected at least two whole ${VERITY_BLOCK}-byte blocks`);
  const digest = (block: Uint8Array) => new Uint8Array(new Bun.CryptoHasher(hash.bun).update(salt).update(block).digest());
  const hashBlocks = (level: Uint8Array): Uint8Array => {
    const n = level.length / VERITY_BLOCK;
    const out = new Uint8Array(Math.ceil((n * 32) / VERITY_BLOCK) * VERITY_BLOCK);
    for (let i = 0; i < n; i++) {
      const d = digest(level.subarray(i * VERITY_BLOCK, (i + 1) * VERITY_BLOCK));
      if (d.length !== 32) throw new Error(`verity hash ${hash.bun}: expected 32-byte digests, got ${d.length}`);
      out.set(d, i * 32);
    }
    return out;
  };
  const levels: Uint8Array[] = [];
  for (let level = hashBlocks(data); ; level = hashBlocks(level)) {
    levels.unshift(level);
    if (level.length === VERITY_BLOCK) break;
  }
  const tree = new Uint8Array(levels.reduce((n, l) => n + l.length, 0));
  let at = 0;
  for (const l of levels) tree.set(l, (at += l.length) - l.length);
  return { tree, root: Buffer.from(digest(levels[0]!)).toString("hex") };
}

/** The disk: the filesystem, then its hash tree (no verity superblock: the table is on the command
 *  line). The salt is the filesystem's SHA-256, fixed by the content and different for any two disks. */
function withVerity(fs: Uint8Array): AgentDisk {
  if (fs.length % VERITY_BLOCK) throw new Error(`erofs image of ${fs.length} bytes: expected a multiple of ${VERITY_BLOCK}`);
  const salt = new Bun.CryptoHasher("sha256").update(fs).digest();
  const { tree, root } = verityTree(fs, salt);
  const image = new Uint8Array(fs.length + tree.length);
  image.set(fs);
  image.set(tree, fs.length);
  const data_blocks = fs.length / VERITY_BLOCK;
  return { image, verity: { data_blocks, hash_start_block: data_blocks, hash: VERITY_HASH.kernel, root_hash: root, salt: salt.toString("hex") } };
}

export function buildAgentDisk(files: DiskFile[], mtime: number): AgentDisk {
  const work = mkdtempSync(join(tmpdir(), "cocos-disk-"));
  try {
    return withVerity(erofsImage(files, mtime, work));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Kernel command-line words /init reads to open the disk (images/init.sh). Being on the command
 *  line puts them, and through the root hash the disk's content, in the launch measurement. */
export function verityCmdline(v: VerityParams): string {
  return `cocos_init.verity=${v.data_blocks},${v.hash_start_block},${v.hash},${v.root_hash},${v.salt}`;
}
