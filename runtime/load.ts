// Turns uploaded bytes into a WASI preview-2 component: a component passes through, a preview-1
// core module is wrapped with the preview-1 command adapter, anything else is an AlgorithmError.

import { AlgorithmError } from "./types.ts";
import {
  COMPONENT_VERSION,
  CORE_VERSION,
  WASM_MAGIC,
  WasmFormatError,
  coreImports,
  renameImports,
  sections,
} from "./wasm/binary.ts";
// Embedded by `bun build --compile` (a file import resolves to a $bunfs path there).
import adapterPath from "./assets/wasi_snapshot_preview1.command.wasm" with { type: "file" };
import { embedNnPreview1, isNnPreview1Import } from "./nn/index.ts";

export type WasmKind = "component" | "preview1";

/** The WASI version of the vendored adapter's imports; the exit rewrite must use the same one. */
export const ADAPTER_WASI_VERSION = "0.2.12";
const PREVIEW1 = "wasi_snapshot_preview1";

/** Header check only; throws AlgorithmError for anything that is not a core module or component. */
export function detectWasmKind(bytes: Uint8Array): WasmKind {
  if (bytes.length < 8) {
    throw new AlgorithmError(
      `not a WebAssembly binary: expected at least 8 bytes (\\0asm + version), got ${bytes.length}`,
    );
  }
  if (!WASM_MAGIC.every((b, i) => bytes[i] === b)) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new AlgorithmError(`not a WebAssembly binary: expected magic 00 61 73 6d (\\0asm), got ${head}`);
  }
  const version = bytes.subarray(4, 8);
  if (CORE_VERSION.every((b, i) => version[i] === b)) return "preview1";
  if (COMPONENT_VERSION.every((b, i) => version[i] === b)) return "component";
  const v = Array.from(version, (b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new AlgorithmError(
    `unsupported WebAssembly version/layer ${v}: expected 01 00 00 00 (core module) or 0d 00 01 00 (component)`,
  );
}

/** Validates a preview-1 core module: well-formed, and imports only from wasi_snapshot_preview1. */
export function checkPreview1Module(bytes: Uint8Array): void {
  try {
    sections(bytes);
  } catch (e) {
    if (e instanceof WasmFormatError) {
      throw new AlgorithmError(`invalid or truncated WebAssembly module: ${e.message}`);
    }
    throw e;
  }
  if (!WebAssembly.validate(bytes)) {
    throw new AlgorithmError("invalid WebAssembly module: the engine's validator rejected it");
  }
  const foreign = coreImports(bytes).filter((i) => i.module !== PREVIEW1 && !isNnPreview1Import(i));
  if (foreign.length > 0) {
    const names = foreign.map((i) => `${i.module}.${i.name} (${i.kind})`).join(", ");
    throw new AlgorithmError(
      `unsupported import(s) in core module: ${names}; a core module may import only from ${PREVIEW1}`,
    );
  }
}

let adapterBytes: Uint8Array | undefined;
async function adapter(): Promise<Uint8Array> {
  adapterBytes ??= new Uint8Array(await Bun.file(adapterPath).arrayBuffer());
  return adapterBytes;
}

// The adapter turns proc_exit(n != 0) into exit(err) = 1. Routing the module's proc_exit import to
// wasi:cli/exit.exit-with-code directly keeps the guest's status; the adapter's own proc_exit is then
// unused and dropped by wit-component.
const EXIT_WIT = `package cocos:preview1-exit;
world exit-code { import wasi:cli/exit@${ADAPTER_WASI_VERSION}; }
package wasi:cli@${ADAPTER_WASI_VERSION} {
  interface exit {
    @unstable(feature = cli-exit-with-code)
    exit-with-code: func(status-code: u8);
  }
}`;

/** Wraps a validated preview-1 command module into a preview-2 component that preserves exit codes. */
export async function adaptPreview1(core: Uint8Array): Promise<Uint8Array> {
  checkPreview1Module(core);
  const { componentEmbed, componentNew } = await import("@bytecodealliance/jco-transpile/wasm-tools");
  let rewired = renameImports(await embedNnPreview1(core), (i) =>
    i.module === PREVIEW1 && i.name === "proc_exit" && i.kind === "func"
      ? { module: `wasi:cli/exit@${ADAPTER_WASI_VERSION}`, name: "exit-with-code" }
      : null,
  );
  try {
    if (rewired !== core) {
      rewired = await componentEmbed({ binary: rewired, witSource: EXIT_WIT, world: "exit-code", features: { tag: "all" } });
    }
    return await componentNew(rewired, [[PREVIEW1, await adapter()]]);
  } catch (e) {
    throw new AlgorithmError(`cannot wrap the preview-1 module into a component: ${describe(e)}`);
  }
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === "object" && e && "payload" in e) return String((e as { payload: unknown }).payload);
  return String(e);
}

export interface LoadedComponent {
  /** What was uploaded. */
  kind: WasmKind;
  component: Uint8Array;
}

/** Detects, validates and (for preview 1) adapts; the result is always a component. */
export async function loadWasm(bytes: Uint8Array): Promise<LoadedComponent> {
  const kind = detectWasmKind(bytes);
  if (kind === "component") return { kind, component: bytes };
  return { kind, component: await adaptPreview1(bytes) };
}

/** SHA3-256 hex, the key of every runtime cache. */
export function sha3Hex(bytes: Uint8Array): string {
  // protocol/hash.ts has the same one-liner but pulls the zip code into every worker that loads this.
  return new Bun.CryptoHasher("sha3-256").update(bytes).digest("hex");
}
