// The computation screen's asset source fields in headless Chromium (console in-process, UI built
// from source): the data provider declares their dataset encrypted with a KBS key path in the page,
// the asset row shows it, the manifest preview carries it (a new hash), and a bad path is refused
// with the API's message shown in the page; the algorithm's type and arguments are set the same way.
import { expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "puppeteer-core";
import { startConsole } from "../console/app.ts";
import { buildUi } from "../console/ui/build.ts";
import { generateKeyPair } from "../protocol/keys.ts";
import { browserTest, withBrowser } from "./support/browser.ts";

// Page-side callbacks (run by Chromium) name DOM globals that this Bun-side file has no types for.
declare const document: any;

const cellText = (page: Page, selector: string) => page.$eval(selector, (el) => el.textContent ?? "");

browserTest(
  "console UI: a dataset declared encrypted with its KBS key path in the computation screen; the manifest carries it",
  async () => {
    await buildUi();
    const dir = mkdtempSync(join(tmpdir(), "console-ui-src-"));
    const con = await startConsole({ CONSOLE_DB: `sqlite:${join(dir, "c.db")}`, CONSOLE_HTTP_PORT: "0", CONSOLE_GRPC_PORT: "0" }, { quiet: true });
    try {
      const post = (path: string, body: unknown, cookie = "") =>
        fetch(con.url + path, { method: "POST", headers: { "content-type": "application/json", "x-cocos-csrf": "1", ...(cookie ? { cookie } : {}) }, body: JSON.stringify(body) });
      const session = async (name: string) => {
        await post("/api/auth/register", { username: name, password: `${name}-password` });
        return (await post("/api/auth/login", { username: name, password: `${name}-password` })).headers.get("set-cookie")!.split(";")[0]!;
      };
      const call = async (cookie: string, method: string, path: string, body?: unknown) =>
        (await fetch(con.url + path, { method, headers: { "content-type": "application/json", "x-cocos-csrf": "1", cookie }, body: body === undefined ? undefined : JSON.stringify(body) })).json() as Promise<any>;
      const alice = await session("alice");
      const bob = await session("bob");
      const carol = await session("carol");
      const id = (await call(alice, "POST", "/api/computations", { name: "sealed ui" })).computation.id;
      for (const [name, cookie, role] of [["bob", bob, "algorithm_provider"], ["alice", alice, "data_provider"], ["carol", carol, "result_consumer"]] as const) {
        const pid = (await call(alice, "POST", `/api/computations/${id}/participants`, { username: name, role })).participant.id;
        await call(cookie, "PUT", `/api/computations/${id}/participants/${pid}/key`, { public_key: generateKeyPair("ed25519").publicPem });
      }
      await call(bob, "POST", `/api/computations/${id}/assets`, { kind: "algorithm", filename: "a.wasm", sha3_256: "a".repeat(64) });
      await call(alice, "POST", `/api/computations/${id}/assets`, { kind: "dataset", filename: "Iris.csv", sha3_256: "b".repeat(64) });

      await withBrowser(async (page) => {
        const [name, value] = alice.split("=") as [string, string];
        await page.setCookie({ name, value, url: con.url });
        await page.goto(`${con.url}/#/computations/${id}`);
        const row = 'tr[data-asset="Iris.csv"]';
        await page.waitForSelector(`${row} .edit-source`);
        const hashBefore = await cellText(page, "#manifest-hash");
        expect(await cellText(page, `${row} .asset-source`)).toBe("upload");

        // A path that is not repo/type/tag: the API's 400 message appears in the page, nothing changes.
        await page.click(`${row} .edit-source`);
        await page.click('.edit-source-form input[name="encrypted"]');
        await page.type('.edit-source-form input[name="kbs_resource_path"]', "default/key");
        await page.$eval('.edit-source-form input[name="kbs_resource_path"]', (el: any) => el.removeAttribute("pattern"));
        await page.click('.edit-source-form button[type="submit"]');
        await page.waitForFunction(() => /repository\/type\/tag/.test(document.querySelector(".edit-source-form")?.textContent ?? ""));
        expect((await call(alice, "GET", `/api/computations/${id}`)).assets[1].encrypted).toBe(false);

        await page.type('.edit-source-form input[name="kbs_resource_path"]', "/iris");
        await page.click('.edit-source-form button[type="submit"]');
        await page.waitForFunction((r: string) => /encrypted, key default\/key\/iris from this console's KBS/.test(document.querySelector(r)?.textContent ?? ""), {}, row);
        // The preview's hash follows: the sealing is part of what the enclave is bound to.
        await page.waitForFunction((h: string) => (document.querySelector("#manifest-hash")?.textContent ?? h) !== h, {}, hashBefore);

        // The algorithm's type and arguments, next to its source fields: into the row and the manifest.
        const algoRow = 'tr[data-asset="a.wasm"]';
        await page.click(`${algoRow} .edit-source`);
        await page.select('.edit-source-form select[name="algo_type"]', "python");
        await page.type('.edit-source-form textarea[name="algo_args"]', "--epochs\n3");
        await page.click('.edit-source-form button[type="submit"]');
        await page.waitForFunction((r: string) => /· python --epochs 3/.test(document.querySelector(r)?.textContent ?? ""), {}, algoRow);
      });
      const d = await call(alice, "GET", `/api/computations/${id}`);
      expect(d.assets[1]).toMatchObject({ encrypted: true, kbs_resource_path: "default/key/iris", kbs_url: "" });
      const manifest = await call(alice, "GET", `/api/computations/${id}/manifest`);
      expect(JSON.parse(manifest.json).algorithm).toMatchObject({ algo_type: "python", algo_args: ["--epochs", "3"] });
      expect(JSON.parse(manifest.json).datasets[0]).toMatchObject({ source: { kbs_resource_path: "default/key/iris", encrypted: true }, kbs: { url: con.url, enabled: true } });
    } finally {
      await con.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  90_000,
);
