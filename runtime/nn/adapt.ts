// Upload-time step for preview-1 modules that import wasi_ephemeral_nn: rename those imports to
// the NN_PREVIEW1_INTERFACE functions and embed its WIT, so wit-component accepts them when the
// module is wrapped into a component (runtime/load.ts calls this before the adapter).

import { coreImports, renameImports } from "../wasm/binary.ts";
import { NN_PREVIEW1_WIT, NN_PREVIEW1_WORLD, isNnPreview1Import, renameNnPreview1Import } from "./preview1.ts";

export { isNnPreview1Import } from "./preview1.ts";

/** The module unchanged when it does not use wasi-nn; else renamed and carrying the interface's WIT. */
export async function embedNnPreview1(core: Uint8Array): Promise<Uint8Array> {
  if (!coreImports(core).some(isNnPreview1Import)) return core;
  const { componentEmbed } = await import("@bytecodealliance/jco-transpile/wasm-tools");
  const renamed = renameImports(core, renameNnPreview1Import);
  return componentEmbed({ binary: renamed, witSource: NN_PREVIEW1_WIT, world: NN_PREVIEW1_WORLD });
}
