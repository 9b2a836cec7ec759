// Builds the browser verifier bundle (one ES module) with Bun.build; the console serves it to the
// attestation page, the browser tests load it. The build fails if a node:/bun: module (which Bun
// would otherwise polyfill or leave dangling) or a Buffer/Bun/process global would reach the bundle.
import { builtinModules } from "node:module";
import { join } from "node:path";
import type { BunPlugin } from "bun";

export const ENTRY = join(import.meta.dir, "index.ts");

const BUILTIN = new Set(builtinModules);

/** Refuses node:/bun: modules in a browser bundle (also used by the console UI build). */
export const noRuntimeModules: BunPlugin = {
  name: "no-node-modules",
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      const bare = args.path.replace(/^node:/, "");
      if (args.path.startsWith("node:") || args.path.startsWith("bun:") || args.path === "bun" || BUILTIN.has(bare))
        throw new Error(`${args.importer} imports ${args.path}: the browser verifier must not depend on a server runtime module`);
      return undefined;
    });
  },
};

// Globals of Bun/Node that a browser lacks (checked on the unminified bundle).
const SERVER_GLOBALS = /\b(Buffer\.(from|alloc|concat)|Bun\.[a-zA-Z]|process\.(env|version|platform))\b/;

export async function buildVerifierBundle(opts: { minify?: boolean } = {}): Promise<string> {
  const build = (minify: boolean) => Bun.build({ entrypoints: [ENTRY], target: "browser", format: "esm", minify, plugins: [noRuntimeModules], throw: false });
  const plain = await build(false);
  if (!plain.success) throw new Error(`verifier bundle: ${plain.logs.map(String).join("; ")}`);
  const text = await plain.outputs[0]!.text();
  const bad = text.match(SERVER_GLOBALS);
  if (bad) throw new Error(`verifier bundle: uses the server global ${bad[0]}`);
  if (!(opts.minify ?? true)) return text;
  const min = await build(true);
  if (!min.success) throw new Error(`verifier bundle: ${min.logs.map(String).join("; ")}`);
  return min.outputs[0]!.text();
}

/**
 * The bundle as a string constant at bundle time, for servers compiled with `bun build --compile`
 * (no sources on disk there): `import { verifierBundleMacro } from ".../build.ts" with { type: "macro" };
 * const JS = verifierBundleMacro();`. Bun.build cannot run inside a macro, so it runs this file in a child.
 */
export function verifierBundleMacro(): string {
  const r = Bun.spawnSync([process.execPath, import.meta.path], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`verifier bundle: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

if (import.meta.main) process.stdout.write(await buildVerifierBundle());
