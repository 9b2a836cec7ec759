// Compiles printer.c to a preview-1 Wasm module once per test process (Debian clang, wasm32-wasi).
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let built: Uint8Array | null = null;

export function printerWasm(): Uint8Array {
  if (built) return built;
  const out = join(mkdtempSync(join(tmpdir(), "printer-")), "printer.wasm");
  const r = Bun.spawnSync(["clang", "--target=wasm32-wasi", "-O2", join(import.meta.dir, "printer.c"), "-o", out]);
  if (r.exitCode !== 0) throw new Error(`clang failed: ${r.stderr.toString()}`);
  built = new Uint8Array(readFileSync(out));
  return built;
}
