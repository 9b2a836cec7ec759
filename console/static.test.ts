import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { staticHandler } from "./static.ts";

const dir = mkdtempSync(join(tmpdir(), "console-ui-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("without a built UI the placeholder page is served", async () => {
  const app = new Hono().get("*", staticHandler(join(dir, "missing")));
  const r = await app.request("/");
  expect(await r.text()).toContain("The web UI is not built");
});

test("files of the UI directory are served; paths outside it (also encoded) get the index page", async () => {
  const ui = join(dir, "dist");
  mkdirSync(ui);
  writeFileSync(join(ui, "index.html"), "<p>index</p>");
  writeFileSync(join(ui, "app.js"), "console.log(1)");
  writeFileSync(join(dir, "secret.txt"), "secret");
  const app = new Hono().get("*", staticHandler(ui));
  expect((await app.request("/app.js")).headers.get("content-type")).toContain("text/javascript");
  expect(await (await app.request("/computations/c1")).text()).toBe("<p>index</p>");
  for (const p of ["/../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt", "/%E0%A4%A"]) expect(await (await app.request(p)).text()).toBe("<p>index</p>");
});

test("a compiled console serves its embedded UI when the directory has none; only the registered names", async () => {
  const { embedUi } = await import("./static.ts");
  embedUi({ "index.html": "<p>embedded</p>", "app.js": "void 0" });
  const app = new Hono().get("*", staticHandler(join(dir, "absent")));
  expect(await (await app.request("/")).text()).toBe("<p>embedded</p>");
  expect((await app.request("/app.js")).headers.get("content-type")).toContain("text/javascript");
  for (const p of ["/computations/c1", "/../secret.txt", "/x/app.js", "/static.ts"]) expect(await (await app.request(p)).text()).toBe("<p>embedded</p>");
  // A directory with a built UI still wins (CONSOLE_UI_DIR points at a newer build).
  expect(await (await new Hono().get("*", staticHandler(join(dir, "dist"))).request("/")).text()).toBe("<p>index</p>");
});
