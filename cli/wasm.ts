// `cocos-cli wasm run FILE [--dir HOST::GUEST] [--env N=V] [args...]`: the runtime's local command.
import type { CliContext } from "./context.ts";

export async function wasmCommand(argv: string[], ctx: CliContext): Promise<number> {
  ctx.err(`wasm ${argv.join(" ")}: the runtime's local command is not part of this build yet`);
  return 2;
}
