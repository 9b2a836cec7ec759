// Models come only from the computation's datasets: a name resolves to a top-level file of the
// run's datasets directory, listed in the manifest (when the run has the list) and re-hashed
// against the manifest's SHA3-256 before ONNX Runtime sees a byte.

import { closeSync, fstatSync, openSync, readSync, constants } from "node:fs";
import { join } from "node:path";
import { NnError } from "./errors.ts";

export interface ModelSource {
  /** Host directory mounted as /datasets; no directory, no models. */
  datasetsDir?: string;
  /** The manifest's datasets (SHA3-256 hex); when given, only these names load and each must match. */
  datasets?: { name: string; hash: string }[];
}

const GUEST_PREFIX = "/datasets/";

/** The dataset file name a guest's load-by-name string refers to ("iris.onnx" or "/datasets/iris.onnx"). */
function datasetName(name: string): string {
  const n = name.startsWith(GUEST_PREFIX) ? name.slice(GUEST_PREFIX.length) : name;
  if (n === "" || n === "." || n === ".." || n.includes("/") || n.includes("\0")) {
    throw new NnError(
      "not-found",
      `model name ${JSON.stringify(name.slice(0, 200))} is not a dataset: expected the file name of one of the computation's datasets (e.g. model.onnx or /datasets/model.onnx)`,
    );
  }
  return n;
}

/** Reads a model by dataset name; not-found, too-large (over maxBytes) or security (hash mismatch). */
export function readModel(name: string, src: ModelSource, maxBytes: number): Uint8Array {
  const file = datasetName(name);
  const listed = src.datasets?.find((d) => d.name === file);
  if (src.datasets && !listed) {
    const names = src.datasets.map((d) => d.name).join(", ") || "none";
    throw new NnError("not-found", `no dataset named ${JSON.stringify(file)}: the computation's datasets are ${names}`);
  }
  if (!src.datasetsDir) throw new NnError("not-found", `no dataset named ${JSON.stringify(file)}: this run has no datasets`);
  let fd: number;
  try {
    // O_NOFOLLOW: a symlink planted in the datasets directory cannot point a model load elsewhere.
    fd = openSync(join(src.datasetsDir, file), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    // The errno only: the guest does not learn where the host keeps its datasets.
    throw new NnError("not-found", `dataset ${JSON.stringify(file)} cannot be opened (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NnError("not-found", `dataset ${JSON.stringify(file)} is not a regular file`);
    if (st.size > maxBytes) {
      throw new NnError("too-large", `model ${JSON.stringify(file)} is ${st.size} bytes; the limit of this run is ${maxBytes}`);
    }
    const bytes = new Uint8Array(st.size);
    let off = 0;
    while (off < bytes.length) {
      const n = readSync(fd, bytes, off, bytes.length - off, off);
      if (n <= 0) break;
      off += n;
    }
    if (off !== bytes.length) throw new NnError("runtime-error", `dataset ${JSON.stringify(file)} changed while it was read`);
    if (listed) {
      const got = new Bun.CryptoHasher("sha3-256").update(bytes).digest("hex");
      if (got !== listed.hash.toLowerCase()) {
        throw new NnError("security", `model ${JSON.stringify(file)} does not match the manifest: expected SHA3-256 ${listed.hash}, got ${got}`);
      }
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}
