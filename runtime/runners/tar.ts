// Minimal ustar support: walk the entries of an archive on disk without loading it (to check an
// uploaded image tarball before handing it to the engine), and write small archives (image fixtures).
import { open } from "node:fs/promises";

const BLOCK = 512;

export interface TarEntry {
  name: string;
  /** "0" file, "5" directory, "2" symlink, ... (ustar typeflag) */
  type: string;
  size: number;
  /** Byte offset of the entry's content in the archive. */
  offset: number;
}

function cString(block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
}

function octal(block: Uint8Array, start: number, length: number): number {
  if (block[start]! & 0x80) {
    // GNU base-256 for sizes over 8 GiB
    let value = block[start]! & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + block[i]!;
    return value;
  }
  const text = cString(block, start, length).trim();
  return text === "" ? 0 : parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum === octal(block, 148, 8);
}

/** Entries of the tar archive at path (PAX and GNU long names resolved); throws on anything that is not a tar. */
export async function listTar(path: string): Promise<TarEntry[]> {
  const file = await open(path, "r");
  try {
    const { size: fileSize } = await file.stat();
    const entries: TarEntry[] = [];
    const block = new Uint8Array(BLOCK);
    let offset = 0;
    let longName: string | null = null;
    for (;;) {
      const { bytesRead } = await file.read(block, 0, BLOCK, offset);
      if (bytesRead < BLOCK) {
        if (offset === 0) throw new Error(`expected a tar archive, got ${fileSize} bytes (too short)`);
        throw new Error(`tar archive truncated at byte ${offset} (expected an end-of-archive marker)`);
      }
      if (block.every((b) => b === 0)) return entries;
      if (!checksumOk(block)) {
        throw new Error(offset === 0 ? "expected a tar archive, got a file whose first header has a bad checksum" : `tar header at byte ${offset} has a bad checksum`);
      }
      const size = octal(block, 124, 12);
      const type = String.fromCharCode(block[156]! || 48);
      const contentOffset = offset + BLOCK;
      if (contentOffset + size > fileSize) {
        throw new Error(`tar archive truncated: entry at byte ${offset} needs ${size} bytes, ${fileSize - contentOffset} remain`);
      }
      offset = contentOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (type === "L" || type === "x") {
        const content = new Uint8Array(size);
        await file.read(content, 0, size, contentOffset);
        const text = new TextDecoder().decode(content);
        longName = type === "L" ? text.replace(/\0+$/, "") : (/(?:^|\n)\d+ path=([^\n]*)\n/.exec(text)?.[1] ?? longName);
        continue;
      }
      if (type === "g") continue;
      const prefix = block[257] === 0x75 /* "u"star */ ? cString(block, 345, 155) : "";
      const name = longName ?? (prefix ? `${prefix}/${cString(block, 0, 100)}` : cString(block, 0, 100));
      longName = null;
      entries.push({ name: name.replace(/^\.\//, ""), type, size, offset: contentOffset });
    }
  } finally {
    await file.close();
  }
}

/** Reads one entry's content (small entries such as manifest.json). */
export async function readTarEntry(path: string, entry: TarEntry): Promise<Uint8Array> {
  const file = await open(path, "r");
  try {
    const content = new Uint8Array(entry.size);
    await file.read(content, 0, entry.size, entry.offset);
    return content;
  } finally {
    await file.close();
  }
}

export type TarInput =
  | { name: string; type: "file"; data: Uint8Array | string; mode?: number }
  | { name: string; type: "dir"; mode?: number }
  | { name: string; type: "symlink"; target: string };

/** A ustar archive of the given entries, owned by root, mtime 0 (deterministic). Names up to 100 bytes. */
export function writeTar(inputs: TarInput[]): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const input of inputs) {
    const data = input.type === "file" ? (typeof input.data === "string" ? encoder.encode(input.data) : input.data) : new Uint8Array(0);
    const header = new Uint8Array(BLOCK);
    const put = (text: string, start: number, length: number) => {
      const bytes = encoder.encode(text);
      if (bytes.length > length) throw new RangeError(`tar field "${text}" is longer than ${length} bytes`);
      header.set(bytes, start);
    };
    const octalField = (value: number, start: number, length: number) => put(value.toString(8).padStart(length - 1, "0"), start, length - 1);
    const defaultMode = input.type === "file" ? 0o644 : 0o755;
    put(input.type === "dir" && !input.name.endsWith("/") ? `${input.name}/` : input.name, 0, 100);
    octalField("mode" in input && input.mode !== undefined ? input.mode : input.type === "symlink" ? 0o777 : defaultMode, 100, 8);
    octalField(0, 108, 8);
    octalField(0, 116, 8);
    octalField(data.length, 124, 12);
    octalField(0, 136, 12);
    header[156] = (input.type === "file" ? "0" : input.type === "dir" ? "5" : "2").charCodeAt(0);
    if (input.type === "symlink") put(input.target, 157, 100);
    put("ustar\u000000", 257, 8);
    header.fill(32, 148, 156);
    const sum = header.reduce((a, b) => a + b, 0);
    put(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8);
    parts.push(header, data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
