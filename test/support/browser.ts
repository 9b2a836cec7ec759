// Headless Chromium for browser tests: Debian's `chromium`, driven by puppeteer-core (never a
// downloaded browser). `withBrowser(async (page) => …)` launches, hands over a page whose uncaught
// errors fail the test, and always closes. `browserTest` skips with a message when chromium is absent
// (CI installs it: `./cocos` lists it in APT_PACKAGES). `servePage` serves fixed files on 127.0.0.1.
import { existsSync } from "node:fs";
import { test } from "bun:test";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const chromiumAvailable = existsSync(CHROMIUM);

/** Arguments for a root user on a CI machine: no sandbox (root), no GPU, /tmp instead of a small /dev/shm. */
export const LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio", "--window-size=1280,900"];

export const BROWSER_TIMEOUT_MS = 30_000;

export interface BrowserOptions {
  /** Per-action timeout of the page (navigation, waitFor…), default 30 s. */
  timeoutMs?: number;
  viewport?: { width: number; height: number };
}

/** Launches Chromium, runs `fn` with a fresh page and closes the browser whatever happens. */
export async function withBrowser<T>(fn: (page: Page, browser: Browser) => Promise<T>, opts: BrowserOptions = {}): Promise<T> {
  if (!chromiumAvailable) throw new Error(`chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS, timeout: opts.timeoutMs ?? BROWSER_TIMEOUT_MS });
  const errors: string[] = [];
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(opts.timeoutMs ?? BROWSER_TIMEOUT_MS);
    await page.setViewport(opts.viewport ?? { width: 1280, height: 900 });
    page.on("pageerror", (e) => errors.push(String((e as Error)?.message ?? e)));
    const out = await fn(page, browser);
    if (errors.length) throw new Error(`uncaught errors in the page: ${errors.join(" | ")}`);
    return out;
  } finally {
    await browser.close();
  }
}

/** `test` that needs Chromium: skipped with a message (not failed) on a machine without it. */
export function browserTest(name: string, fn: () => Promise<void>, timeoutMs = 60_000) {
  if (!chromiumAvailable) {
    console.warn(`skipping "${name}": chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
    return test.skip(name, fn);
  }
  return test(name, fn, timeoutMs);
}

export interface ServedPage {
  url: string;
  stop(): void;
}

/** Serves fixed files (path → body, content type from the extension) on 127.0.0.1, a free port. */
export function servePage(files: Record<string, string | Uint8Array>): ServedPage {
  const TYPES: Record<string, string> = { html: "text/html; charset=utf-8", js: "text/javascript; charset=utf-8", json: "application/json" };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      const body = files[path];
      if (body === undefined) return new Response(`no ${path}`, { status: 404 });
      const ext = path.includes(".") ? path.split(".").pop()! : "html"; // "/" and extensionless paths are pages
      return new Response(body, { headers: { "content-type": TYPES[ext] ?? "application/octet-stream", "cache-control": "no-store" } });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}
