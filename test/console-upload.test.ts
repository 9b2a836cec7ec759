// A dataset uploaded from the console's page, encrypted in the browser to the agent's attested upload
// key (headless Chromium, compiled console/manager/agent/CLI, process backend, attested TLS). The
// browser talks to the console through a recording relay in this test, so every byte the console
// received is captured: the dataset's rows never appear in it (nor in the console's database), the
// body is the Cocos ciphertext (plaintext + 28 bytes), and the run completes with the consumer
// downloading the result. Adversary steps first: the relay flips a ciphertext byte (the agent's GCM
// tag refuses it, relayed as HTTP 400), the relay swaps the upload key in the evidence (the page
// refuses before sending anything), and a file that is not the manifest's dataset is refused in the page.
// Through the API: the console refuses an unsealed upload (400), a non-data-provider (403), a body over
// CONSOLE_MAX_UPLOAD_BYTES (413), and relays the agent's refusal of a bad signature (401).
import { expect } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { unzipSync } from "fflate";
import type { Page } from "puppeteer-core";
import { buildUi } from "../console/ui/build.ts";
import { programs } from "../scripts/iris-workflow.ts";
import { IRIS, cli, consoleArgv, seedIris, startConsoleProgram } from "../scripts/console.ts";
import { browserTest, withBrowser } from "./support/browser.ts";
import { ownerWithManager, runUp, until, withConsoleStack } from "./support/console-stack.ts";

declare const document: any;

type Tamper = "none" | "flip-ciphertext" | "swap-upload-key";

/** A relay between the browser and the console that records every request body and can tamper. */
function recordingRelay(target: string) {
  const bodies: { path: string; body: Uint8Array }[] = [];
  const state = { tamper: "none" as Tamper };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const u = new URL(req.url);
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : new Uint8Array(await req.arrayBuffer());
      if (body) bodies.push({ path: u.pathname, body });
      const headers = new Headers(req.headers);
      headers.delete("host");
      if (headers.has("origin")) headers.set("origin", target); // the console checks Origin against itself
      let sent = body;
      if (body && state.tamper === "flip-ciphertext" && u.pathname.endsWith("/uploads/dataset")) {
        sent = body.slice();
        sent[100]! ^= 1;
      }
      const r = await fetch(target + u.pathname + u.search, { method: req.method, headers, body: sent, redirect: "manual" });
      if (state.tamper === "swap-upload-key" && u.pathname.endsWith("/upload-key") && r.ok) {
        const j = (await r.json()) as { upload_public_key_base64: string };
        const key = Buffer.from(j.upload_public_key_base64, "base64");
        key[40]! ^= 1; // another point (or none): either way not the key the evidence binds
        j.upload_public_key_base64 = key.toString("base64");
        return Response.json(j);
      }
      return new Response(r.body, { status: r.status, headers: r.headers });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, bodies, state, stop: () => server.stop(true) };
}

async function pickFiles(page: Page, dataset: string, key: string) {
  const d = await page.waitForSelector('#sealed-upload input[name="dataset"]');
  await (d as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(dataset);
  const k = await page.waitForSelector('#sealed-upload input[name="private_key"]');
  await (k as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(key);
  await page.waitForFunction(() => !document.querySelector("#upload")?.disabled);
}

async function uploadExpectingError(page: Page, re: RegExp): Promise<string> {
  await page.click("#upload");
  await page.waitForSelector('p.error[role="alert"]', { timeout: 45_000 });
  const msg = await page.$eval('p.error[role="alert"]', (el) => el.textContent ?? "");
  expect(msg).toMatch(re);
  return msg;
}

browserTest(
  "console upload: a dataset encrypted in the browser to the attested upload key; the relay holds only ciphertext; tampering refused; the run completes",
  async () => {
    if (consoleArgv(programs("auto").mode).length > 1) await buildUi();
    await withConsoleStack("cup-", async (stack) => {
      const { workDir, httpPort, grpcPort, running, show } = stack;
      const { program, url } = await startConsoleProgram({ workDir, bins: "auto", httpPort, grpcPort, show, env: { CONSOLE_STOP_AFTER_COMPLETE: "2s", CONSOLE_MAX_UPLOAD_BYTES: String(64 << 10) } });
      running.push(program);
      const relay = recordingRelay(url);
      try {
        const owner = await ownerWithManager(url, stack, "auto", "upload test");
        const { computationId: id, parties } = await seedIris(owner, { workDir, bins: "auto", password: (u) => `${u}-password` });
        const [algo, data, consumer] = parties as [(typeof parties)[0], (typeof parties)[0], (typeof parties)[0]];

        const { run } = await owner.call("POST", `/api/computations/${id}/runs`, { manager_id: "local" });
        const ready = await runUp(consumer.api, run.id);
        await until(async () => (await owner.call("GET", `/api/computations/${id}/events?kind=log&limit=1000`)).events.some((e: { details: string }) => e.details.includes("agent ready")), "agent ready");
        const env = { ...ready.cli.env } as Record<string, string>;
        const policy = await algo.api.call("GET", `/api/runs/${run.id}/policy`);
        for (const p of [algo, consumer]) writeFileSync(join(p.dir, ready.cli.policy_file), JSON.stringify(policy));
        await cli("auto", algo.dir, ["algo", IRIS.algorithm, "private.pem", "-a", "wasm"], env);

        // The console relays only sealed uploads, from a data provider, within its cap; the agent's refusal is relayed.
        const post = (who: typeof data, headers: Record<string, string>, body: Uint8Array) =>
          fetch(`${url}/api/runs/${run.id}/uploads/dataset?filename=Iris.csv`, { method: "POST", headers: { authorization: `Bearer ${who.api.token}`, "content-type": "application/octet-stream", ...headers }, body });
        const refusal = async (r: Response) => ({ status: r.status, message: ((await r.json()) as { error: { message: string } }).error.message });
        const sealedHeaders = { "cocos-md-signature": "AAAA", "cocos-md-signature-version": "2", "cocos-md-cocos-sealed-key": "AAAA" };
        expect(await refusal(await post(data, { "cocos-md-signature": "AAAA" }, readFileSync(IRIS.dataset)))).toEqual({ status: 400, message: expect.stringContaining("expected a sealed upload") });
        expect((await refusal(await post(consumer, sealedHeaders, new Uint8Array(100)))).status).toBe(403);
        expect(await refusal(await post(data, sealedHeaders, new Uint8Array(65 << 10)))).toEqual({ status: 413, message: expect.stringContaining(`at most ${64 << 10}`) });
        expect(await refusal(await post(data, sealedHeaders, new Uint8Array(100)))).toEqual({ status: 401, message: expect.stringContaining("the agent refused the upload (UNAUTHENTICATED)") });

        const plaintext = readFileSync(IRIS.dataset);
        const ROW = "101,6.3,3.3,6.0,2.5,Iris-virginica"; // a distinctive line of the dataset
        expect(plaintext.toString()).toContain(ROW);
        const wrongDir = join(workDir, "wrong");
        mkdirSync(wrongDir);
        writeFileSync(join(wrongDir, "Iris.csv"), plaintext.toString().replace("Iris-setosa", "Iris-sEtosa"));

        await withBrowser(async (page) => {
          await page.goto(relay.url);
          await page.waitForSelector("#submit-login");
          await page.$eval('input[name="username"]', (el: any) => el.focus());
          await page.keyboard.type("data-provider");
          await page.$eval('input[name="password"]', (el: any) => el.focus());
          await page.keyboard.type("data-provider-password");
          await page.click("#submit-login");
          await page.waitForSelector("#logout");
          // The computation page links the data provider to the upload page of the running run.
          await page.goto(`${relay.url}/#/computations/${id}`);
          await page.waitForSelector("#run-list a.upload-link");
          await page.click("#run-list a.upload-link");
          const key = join(data.dir, "private.pem"); // cocos-cli's ECDSA key (SEC1), imported in the page

          // Not the manifest's dataset: refused in the page, nothing sent.
          await pickFiles(page, join(wrongDir, "Iris.csv"), key);
          await uploadExpectingError(page, /Iris\.csv does not match the manifest: expected SHA3-256 [0-9a-f]{64}, the file has [0-9a-f]{64}/);
          // The relay replaces the upload key next to genuine evidence: the in-page check fails, nothing sent.
          await page.reload();
          await pickFiles(page, IRIS.dataset, key);
          relay.state.tamper = "swap-upload-key";
          await uploadExpectingError(page, /did not verify in this browser, nothing was sent: .*report_data/);
          // The relay flips one ciphertext byte: the agent's GCM tag refuses it, the page shows the agent's words.
          await page.reload();
          await pickFiles(page, IRIS.dataset, key);
          relay.state.tamper = "flip-ciphertext";
          await uploadExpectingError(page, /agent refused the upload \(INVALID_ARGUMENT\): dataset Iris\.csv was sealed to the upload key/);
          expect(relay.bodies.filter((b) => b.path.endsWith("/uploads/dataset")).length).toBe(1);

          // The real upload.
          relay.state.tamper = "none";
          await page.reload();
          await pickFiles(page, IRIS.dataset, key);
          await page.click("#upload");
          await page.waitForSelector("#upload-result", { timeout: 45_000 });
          expect(await page.$eval("#upload-result", (el) => el.textContent ?? "")).toContain("matched the manifest");
        });

        // What the relay (and so the console) received: ciphertext only.
        const uploads = relay.bodies.filter((b) => b.path.endsWith("/uploads/dataset"));
        expect(uploads.length).toBe(2);
        for (const u of uploads) {
          expect(u.body.length).toBe(plaintext.length + 28); // nonce 12 ‖ ciphertext ‖ tag 16
          expect(Buffer.from(u.body).equals(plaintext)).toBe(false);
        }
        for (const b of relay.bodies) expect({ path: b.path, row: Buffer.from(b.body).includes(ROW) }).toEqual({ path: b.path, row: false });
        for (const f of readdirSync(workDir).filter((f) => f.startsWith("console.db"))) expect({ f, row: readFileSync(join(workDir, f)).includes(ROW) }).toEqual({ f, row: false });

        await until(async () => (await owner.call("GET", `/api/runs/${run.id}`)).run.state === "results_ready", "results ready");
        await cli("auto", consumer.dir, ["result", "private.pem", "result.zip"], env);
        expect(Object.keys(unzipSync(readFileSync(join(consumer.dir, "result.zip"))))).toContain("model.json");
        await until(async () => (await owner.call("GET", `/api/runs/${run.id}`)).run.state === "completed", "the run to complete");
      } finally {
        relay.stop();
      }
    });
  },
  120_000,
);
