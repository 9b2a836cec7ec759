// The browser UI: files from console/ui/dist (built with Bun.build) when they exist, else the UI
// embedded in the compiled binary (scripts/build.ts imports the built files as text and calls
// embedUi before the console starts), else a placeholder page. Paths are resolved inside the
// directory only; unknown paths get index.html (client-side routes).
import { existsSync, statSync } from "node:fs";
import { extname, join, normalize, resolve, sep } from "node:path";
import type { Context } from "hono";

export const DEFAULT_UI_DIR = resolve(import.meta.dir, "ui", "dist");

const PLACEHOLDER = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Cocos console</title></head>
<body><h1>Cocos console</h1><p>The web UI is not built into this console. The API is at <a href="/openapi.json">/openapi.json</a>.</p></body></html>`;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json", ".map": "application/json", ".woff2": "font/woff2",
};

const embedded = new Map<string, string>();

/** Registers the UI files a compiled console carries (file name → text), served when the directory has none. */
export function embedUi(files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) embedded.set(name, text);
}

function serveEmbedded(path: string): Response | null {
  const name = embedded.has(path.replace(/^\/+/, "")) ? path.replace(/^\/+/, "") : "index.html";
  const text = embedded.get(name);
  if (text === undefined) return null;
  return new Response(text, { headers: { "content-type": TYPES[extname(name)] ?? "application/octet-stream", "cache-control": "no-cache" } });
}

export function staticHandler(dir = DEFAULT_UI_DIR) {
  const root = resolve(dir);
  return (c: Context) => {
    if (!existsSync(join(root, "index.html"))) return serveEmbedded(c.req.path) ?? c.html(PLACEHOLDER);
    let rel: string;
    try {
      rel = normalize(decodeURIComponent(c.req.path));
    } catch {
      rel = "/";
    }
    let file = join(root, rel);
    // Anything outside the UI directory (`..`, encoded or not) is not served: it gets the index page.
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) file = join(root, "index.html");
    return new Response(Bun.file(file), { headers: { "content-type": TYPES[extname(file)] ?? "application/octet-stream" } });
  };
}
