// Builds the test guests from C at test time (Debian clang + wasi-libc, no --sysroot), cached by
// the SHA3-256 of source + flags in a temp directory so repeated test runs skip the compiler.

import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const HERE = import.meta.dir;
const CACHE = join(tmpdir(), "cocos-runtime-testdata");

/** Why clang cannot build wasm32-wasi here, or null. */
export function clangUnavailable(): string | null {
  if (!Bun.which("clang")) return "clang not installed";
  if (!existsSync("/usr/include/wasm32-wasi/stdio.h") && !existsSync("/usr/lib/wasm32-wasi")) {
    return "wasi-libc not installed";
  }
  return null;
}

/** Compiles runtime/testdata/NAME.c to a preview-1 module and returns its path. */
export async function buildGuest(name: string, flags: string[] = ["-O2"]): Promise<string> {
  const src = join(HERE, `${name}.c`);
  const text = await Bun.file(src).text();
  const key = new Bun.CryptoHasher("sha3-256").update(text + "\0" + flags.join(" ")).digest("hex").slice(0, 16);
  mkdirSync(CACHE, { recursive: true });
  const out = join(CACHE, `${name}-${key}.wasm`);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}.tmp`;
  const p = Bun.spawnSync(["clang", "--target=wasm32-wasi", ...flags, src, "-o", tmp]);
  if (p.exitCode !== 0) throw new Error(`clang failed for ${name}.c: ${p.stderr.toString()}`);
  await Bun.$`mv ${tmp} ${out}`.quiet();
  return out;
}

/** WIT of the cocos:computation interfaces, as wit/cocos-computation.wit names them (test copy). */
export const INFERENCE_TEST_WIT = `package cocos:computation@0.1.0;
interface datasets {
  record dataset { name: string, hash: string, size: u64 }
  list-datasets: func() -> list<dataset>;
}
interface progress { report: func(fraction: f32, message: string); }
world inference-test {
  import datasets;
  import progress;
  export infer: func(input: string) -> result<string, string>;
}`;

/** Builds runtime/testdata/inference.c into a component of the inference world and returns its path. */
export async function buildInferenceComponent(): Promise<string> {
  const src = join(HERE, "inference.c");
  const text = await Bun.file(src).text();
  const key = new Bun.CryptoHasher("sha3-256").update(text + INFERENCE_TEST_WIT).digest("hex").slice(0, 16);
  mkdirSync(CACHE, { recursive: true });
  const out = join(CACHE, `inference-${key}.component.wasm`);
  if (existsSync(out)) return out;
  const core = `${out}.${process.pid}.core.wasm`;
  const p = Bun.spawnSync([
    "clang", "--target=wasm32", "-O2", "-nostdlib", "-Wl,--no-entry", src, "-o", core,
  ]);
  if (p.exitCode !== 0) throw new Error(`clang failed for inference.c: ${p.stderr.toString()}`);
  const { componentEmbed, componentNew } = await import("@bytecodealliance/jco-transpile/wasm-tools");
  const embedded = await componentEmbed({
    binary: new Uint8Array(await Bun.file(core).arrayBuffer()),
    witSource: INFERENCE_TEST_WIT,
    world: "inference-test",
  });
  await Bun.write(`${out}.tmp`, await componentNew(embedded, []));
  await Bun.$`mv ${out}.tmp ${out} && rm -f ${core}`.quiet();
  return out;
}
