// Cocos streams uploads and downloads in 1 MiB pieces (pkg/progressbar, agent/api/grpc/server.go).
export const CHUNK_SIZE = 1 << 20;

export async function* fileChunks(path: string, size: number = CHUNK_SIZE): AsyncGenerator<Uint8Array> {
  const file = Bun.file(path);
  const total = file.size;
  for (let off = 0; off < total; off += size) {
    yield new Uint8Array(await file.slice(off, Math.min(off + size, total)).arrayBuffer());
  }
}

export function* bytesChunks(bytes: Uint8Array, size: number = CHUNK_SIZE): Generator<Uint8Array> {
  for (let off = 0; off < bytes.byteLength; off += size) {
    yield bytes.subarray(off, Math.min(off + size, bytes.byteLength));
  }
}
