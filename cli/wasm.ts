// `cocos-cli wasm run [--dir HOST::GUEST]... [--env N=V]... FILE [ARGS...]`: the runtime's local
// command (like `wasmtime run`); stdio passes straight through, exit status = the guest's.
import { main } from "../runtime/wasm-command.ts";
import type { CliContext } from "./context.ts";

export async function wasmCommand(argv: string[], _ctx: CliContext): Promise<number> {
  return main(argv);
}
