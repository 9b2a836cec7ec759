// Builds the web UI with Bun.build (target browser) into console/ui/dist: index.html, app.js (the
// screens, preact and the attestation verifier) and app.css. No inline script or style anywhere:
// the console's CSP allows only 'self'. scripts/build.ts runs this before compiling cocos-console
// and embeds the three files in the binary (console/static.ts embedUi).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BunPlugin } from "bun";
import { noRuntimeModules } from "../../attestation/browser/build.ts";

export const UI_SRC = import.meta.dir;
export const UI_DIST = join(UI_SRC, "dist");
export const UI_FILES = ["index.html", "app.js", "app.css"] as const;

/**
 * @hpke/core (the upload page's HPKE) falls back to `await import("crypto")` where there is no
 * globalThis.crypto; a browser always has it, so that import resolves to the page's own WebCrypto
 * instead of failing the no-server-module rule.
 */
export const hpkeWebCrypto: BunPlugin = {
  name: "hpke-webcrypto",
  setup(b) {
    b.onResolve({ filter: /^(node:)?crypto$/ }, (args) => (/[\\/]@hpke[\\/]/.test(args.importer) ? { path: "webcrypto", namespace: "hpke-webcrypto" } : undefined));
    b.onLoad({ filter: /.*/, namespace: "hpke-webcrypto" }, () => ({ contents: "export const webcrypto = globalThis.crypto;", loader: "js" }));
  },
};

export async function buildUi(outDir = UI_DIST): Promise<Record<(typeof UI_FILES)[number], string>> {
  const r = await Bun.build({ entrypoints: [join(UI_SRC, "main.tsx")], jsx: { runtime: "automatic", importSource: "preact", development: false }, target: "browser", format: "esm", minify: true, plugins: [hpkeWebCrypto, noRuntimeModules], throw: false });
  if (!r.success) throw new Error(`console UI bundle: ${r.logs.map(String).join("; ")}`);
  const files = {
    "index.html": readFileSync(join(UI_SRC, "index.html"), "utf8"),
    "app.js": await r.outputs[0]!.text(),
    "app.css": readFileSync(join(UI_SRC, "app.css"), "utf8"),
  };
  mkdirSync(outDir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(outDir, name), text);
  return files;
}

if (import.meta.main) {
  const files = await buildUi();
  console.log(`built console/ui/dist (app.js ${(files["app.js"].length / 1024).toFixed(0)} KiB)`);
}
