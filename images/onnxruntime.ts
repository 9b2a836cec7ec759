// ONNX Runtime for wasi-nn inside the guest: the N-API addon and libonnxruntime.so.1 from
// `bun run build`'s dist/onnxruntime/, placed at /bin/onnxruntime/ — next to /bin/cocos-agent,
// where runtime/nn/ort.ts looks for them (the addon's RUNPATH is $ORIGIN, so both share a folder).
// The libraries they need beyond themselves (libstdc++, libgcc_s, glibc's) are resolved from their
// DT_NEEDED entries by images/native-sandbox.ts's package table, like the sandbox tools'.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { CpioEntry } from "./cpio.ts";
import { elfNeeded } from "./native-sandbox.ts";

/** The names runtime/nn/ort.ts loads (ORT_ADDON, ORT_LIBRARY; test/image-build.test.ts keeps them equal). */
export const ORT_FILES = ["onnxruntime_binding.node", "libonnxruntime.so.1"] as const;
export const ORT_GUEST_DIR = "bin/onnxruntime";

export type FileEntry = Extract<CpioEntry, { type: "file" }>;

export interface OrtFiles {
  entries: FileEntry[];
  /** Sonames the files need that they do not provide themselves. */
  needed: string[];
}

/** Cpio entries for ONNX Runtime from `dir` (dist/onnxruntime). */
export function ortFiles(dir: string): OrtFiles {
  const files = ORT_FILES.map((name) => {
    try {
      return { name, data: new Uint8Array(readFileSync(join(dir, name))) };
    } catch {
      throw new Error(`expected ${name} in ${dir} (run \`bun run build\`, or build with --no-nn), found nothing`);
    }
  });
  const own = new Set<string>(ORT_FILES);
  const needed = [...new Set(files.flatMap((f) => elfNeeded(f.data)))].filter((s) => !own.has(s)).sort();
  return { entries: files.map(({ name, data }): FileEntry => ({ path: `${ORT_GUEST_DIR}/${name}`, type: "file", data, mode: 0o755 })), needed };
}
