// The console's web UI in headless Chromium, every program compiled (dist/): the owner registers in
// the page, registers a process-backend manager (its token shown once) and starts it, creates the
// Iris computation and adds three participants; each party logs in in its own browser context,
// uploads the public key made with `cocos-cli keys` and registers its asset (the dataset hashed in
// the page from the file). The owner runs it on the manager; each party runs cocos-cli with the
// environment and policy the page shows; the page's live timeline reaches completion; the
// attestation page verifies the agent's evidence in the browser (all checks, SIMULATED banner) and
// fails a check when one byte of the relayed evidence is flipped. A screenshot of each screen is
// taken; with UPDATE_SCREENSHOTS=1 they replace docs/screenshots/ (else they stay in the work dir,
// so an ordinary run leaves the repository clean).
import { expect } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "puppeteer-core";
import { hashFile, toHex } from "../protocol/hash.ts";
import { ROOT, programs } from "../scripts/iris-workflow.ts";
import { buildUi } from "../console/ui/build.ts";
import { ConsoleClient, IRIS, cli, consoleArgv, startConsoleProgram, startManagerProgram } from "../scripts/console.ts";
import { browserTest, withBrowser } from "./support/browser.ts";
import { withConsoleStack } from "./support/console-stack.ts";

// Page-side callbacks (run by Chromium) name DOM globals that this Bun-side file has no types for.
declare const document: any, window: any, HTMLInputElement: any, HTMLTextAreaElement: any, HTMLSelectElement: any, HTMLButtonElement: any;

const SHOTS = process.env.UPDATE_SCREENSHOTS ? join(ROOT, "docs", "screenshots") : join(tmpdir(), `console-ui-shots-${process.pid}`);
const VIEWPORT = { width: 1280, height: 800 };

/** Sets an input's value the way typing does (preact reads it from the input event). */
async function fill(page: Page, selector: string, value: string) {
  await page.waitForSelector(selector);
  await page.$eval(selector, (el, v) => {
    const input = el as any;
    const proto = input instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : input instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, "value")!.set!.call(input, v);
    input.dispatchEvent(new Event(input instanceof HTMLSelectElement ? "change" : "input", { bubbles: true }));
  }, value);
}

const text = (page: Page, selector: string) => page.$eval(selector, (el) => el.textContent ?? "");

async function untilText(page: Page, selector: string, re: RegExp, what: string) {
  try {
    await page.waitForFunction((s, src) => new RegExp(src).test(document.querySelector(s)?.textContent ?? ""), { timeout: 45_000 }, selector, re.source);
  } catch {
    throw new Error(`timed out waiting for ${what}: ${selector} shows ${JSON.stringify(await page.$eval(selector, (el) => el.textContent).catch(() => null))}`);
  }
}

async function shot(page: Page, name: string, scrollTarget?: string) {
  if (scrollTarget) await page.$eval(scrollTarget, (el) => el.scrollIntoView({ block: "start" }));
  else await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`) as `${string}.png` });
}

async function login(page: Page, url: string, username: string, password: string, register = false) {
  await page.goto(url);
  await page.waitForSelector("#submit-login");
  if (register) await page.click("#to-register");
  await fill(page, 'input[name="username"]', username);
  await fill(page, 'input[name="password"]', password);
  await page.click("#submit-login");
  await page.waitForSelector("#logout");
}

interface PartyPage {
  username: string;
  dir: string;
  page: Page;
}

/** A party in its own browser context (own cookie): logs in and uploads the key cocos-cli made. */
async function partyUploadsKey(p: PartyPage, url: string, password: string, computationId: string) {
  await login(p.page, url, p.username, password);
  await p.page.goto(`${url}/#/computations/${computationId}`);
  await fill(p.page, 'textarea[name="public_key"]', readFileSync(join(p.dir, "public.pem"), "utf8"));
  await p.page.click('#upload-key button[type="submit"]');
  await untilText(p.page, `tr[data-user="${p.username}"]`, /uploaded/, `${p.username}'s key to show as uploaded`);
}

/** The KEY=VALUE words before `cocos-cli` in a command the page shows. */
function envOf(command: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const word of command.slice(0, command.indexOf("cocos-cli")).trim().split(/\s+/)) {
    const at = word.indexOf("=");
    env[word.slice(0, at)] = word.slice(at + 1);
  }
  return env;
}

browserTest(
  "console UI: Iris from the browser — register, participants and keys, assets, run, live timeline, in-browser attestation (pass, and fail on a flipped byte)",
  async () => {
    mkdirSync(SHOTS, { recursive: true });
    // dist/cocos-console carries the UI it was built with (and is started from an empty work dir);
    // a console run from source serves console/ui/dist, so build it from the sources first.
    if (consoleArgv(programs("auto").mode).length > 1) await buildUi();
    await withConsoleStack("console-ui-", async ({ workDir, httpPort, grpcPort, running, show }) => {
      const { program, url } = await startConsoleProgram({ workDir, bins: "auto", httpPort, grpcPort, show, env: { CONSOLE_STOP_AFTER_COMPLETE: "2s" } });
      running.push(program);
      // The other parties register (they would in their own browsers; the API is quicker) and make keys.
      const parties = [
        { username: "algo-provider", role: "algorithm_provider", keyType: "ed25519" },
        { username: "data-provider", role: "data_provider", keyType: "ecdsa" },
        { username: "owner", role: "result_consumer", keyType: "ed25519" },
      ] as const;
      const password = (u: string) => `${u}-password`;
      for (const p of parties) {
        mkdirSync(join(workDir, p.username), { recursive: true });
        await cli("auto", join(workDir, p.username), ["keys", "-k", p.keyType]);
      }
      copyFileSync(IRIS.dataset, join(workDir, "data-provider", "Iris.csv"));

      await withBrowser(async (page: Page, browser: Browser) => {
        const cspViolations: string[] = [];
        page.on("console", (m) => {
          if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
        });

        // Log in screen; the first account is the admin.
        await page.goto(url);
        await page.waitForSelector("#submit-login");
        await shot(page, "login");
        await login(page, url, "owner", password("owner"), true);
        for (const p of parties.slice(0, 2)) await ConsoleClient.register(url, p.username, password(p.username));

        // Managers: register one (the token is shown once, with the environment to start it).
        await page.goto(`${url}/#/managers`);
        await fill(page, '#register-manager input[name="id"]', "local");
        await fill(page, '#register-manager input[name="description"]', "process backend on this machine");
        await page.click('#register-manager button[type="submit"]');
        await page.waitForSelector(".notice pre.cmd");
        const token = /MANAGER_CONSOLE_TOKEN=(\S+)/.exec(await text(page, ".notice pre.cmd"))![1]!;
        running.push(startManagerProgram({ workDir, bins: "auto", grpcPort, id: "local", token, show }));
        await untilText(page, 'tr[data-manager="local"]', /connected/, "the manager to show as connected");

        // The computation and its participants (a marker where a key is missing).
        await page.goto(`${url}/#/`);
        await fill(page, '#new-computation input[name="name"]', "Iris training");
        await fill(page, '#new-computation input[name="description"]', "Train a classifier on Iris.csv inside the agent");
        await page.click('#new-computation button[type="submit"]');
        await page.waitForSelector("#add-participant");
        const computationId = decodeURIComponent(/#\/computations\/([^/]+)/.exec(page.url())![1]!);
        for (const p of parties) {
          await fill(page, '#add-participant input[name="username"]', p.username);
          await fill(page, '#add-participant select[name="role"]', p.role);
          await page.click('#add-participant button[type="submit"]');
          await untilText(page, "#participants", new RegExp(p.username), `${p.username} in the participants`);
        }
        expect(await text(page, `tr[data-user="algo-provider"]`)).toContain("missing");
        expect(await text(page, "#manifest-missing")).toContain("has not uploaded a public key");

        // Each party, in its own browser context: key, then its asset.
        const owner: PartyPage = { username: "owner", dir: join(workDir, "owner"), page };
        await fill(page, 'textarea[name="public_key"]', readFileSync(join(owner.dir, "public.pem"), "utf8"));
        await page.click('#upload-key button[type="submit"]');
        await untilText(page, 'tr[data-user="owner"]', /uploaded/, "the owner's key");
        const others: PartyPage[] = [];
        for (const p of parties.slice(0, 2)) {
          const ctx = await browser.createBrowserContext();
          others.push({ username: p.username, dir: join(workDir, p.username), page: await ctx.newPage() });
          await others.at(-1)!.page.setViewport(VIEWPORT);
          await partyUploadsKey(others.at(-1)!, url, password(p.username), computationId);
        }
        const [algo, data] = others as [PartyPage, PartyPage];
        await fill(algo.page, '#register-asset input[name="filename"]', "iris-train.wasm");
        await fill(algo.page, '#register-asset input[name="sha3_256"]', toHex(await hashFile(IRIS.algorithm)));
        await algo.page.click('#register-asset button[type="submit"]');
        await untilText(algo.page, "#assets", /iris-train\.wasm/, "the algorithm in the assets");
        // The data provider picks the file: the page hashes it (SHA3-256) without uploading it.
        const input = await data.page.waitForSelector('#register-asset input[type="file"]');
        await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(join(data.dir, "Iris.csv"));
        const datasetHash = toHex(await hashFile(IRIS.dataset));
        await data.page.waitForFunction((h) => (document.querySelector('#register-asset input[name="sha3_256"]') as any)?.value === h, {}, datasetHash);
        await data.page.click('#register-asset button[type="submit"]');
        await untilText(data.page, "#assets", /Iris\.csv/, "the dataset in the assets");

        // Another party's text is shown as text, never run: a computation named like markup.
        const dataApi = new ConsoleClient(url);
        dataApi.token = (await new ConsoleClient(url).call("POST", "/api/auth/token", { username: "data-provider", password: password("data-provider"), name: "t" })).token;
        await dataApi.call("POST", "/api/computations", { name: `<img src=x onerror="window.__xss=1">probe`, description: "<script>window.__xss=2</script>" });
        await data.page.goto(`${url}/#/`);
        await untilText(data.page, "#computations", /<img src=x/, "the markup-named computation listed as text");
        expect(await data.page.evaluate(() => ({ xss: (window as { __xss?: number }).__xss, imgs: document.querySelectorAll("#computations img").length }))).toEqual({ xss: undefined, imgs: 0 });

        // A session that ends (here: the cookie is gone) sends the page back to the login screen.
        await data.page.deleteCookie(...(await data.page.cookies()));
        await data.page.evaluate(() => (window.location.hash = "#/managers"));
        await data.page.waitForSelector("#submit-login");

        // The manifest is complete: its hash is what the API computes (= cocos-cli checksum --manifest).
        await page.reload();
        await page.waitForSelector("#manifest-hash");
        const manifestHash = await text(page, "#manifest-hash");
        expect(manifestHash).toBe((await dataApi.call("GET", `/api/computations/${computationId}/manifest`)).sha3_256);

        // Run on the manager picked in the page; wait for the agent to be up with its policy.
        await page.waitForFunction(() => !document.querySelector("#run")?.disabled);
        await page.click("#run");
        await untilText(page, "#run-list", /running|results ready/, "the run to be running");
        const runId = await page.$eval("#run-list tr[data-run]", (el) => el.getAttribute("data-run")!);
        await untilText(page, "#timeline", /agent.*ready|VmProvision/i, "the VM on the timeline");
        for (let i = 0; i < 300; i++) {
          const r = (await dataApi.call("GET", `/api/runs/${runId}`)).run;
          if (r.state === "failed") throw new Error(`run failed: ${r.error}`);
          const logs = (await dataApi.call("GET", `/api/computations/${computationId}/events?kind=log&limit=1000`)).events as { details: string }[];
          if (r.has_policy && logs.some((e) => e.details.includes("agent ready"))) break;
          await Bun.sleep(100);
        }
        await page.reload();
        await untilText(page, "#run-list .agent-address", /^127\.0\.0\.1:\d+$/, "the agent address");
        await page.waitForSelector("#run-list a[download]");

        // Each party runs cocos-cli with what the page shows: the environment and the policy it links.
        const policyHref = await page.$eval("#run-list a[download]", (a) => a.getAttribute("href")!);
        const policy = await page.evaluate(async (h) => (await fetch(h)).text(), policyHref);
        const algoCmd = await text(page, '.cli-role[data-role="algorithm_provider"] pre.cmd');
        const env = envOf(algoCmd);
        expect(env.AGENT_GRPC_URL).toBe(await text(page, "#run-list .agent-address"));
        for (const p of [algo, data, owner]) writeFileSync(join(p.dir, env.AGENT_GRPC_ATTESTATION_POLICY!), policy);
        await cli("auto", algo.dir, ["algo", IRIS.algorithm, "private.pem", "-a", "wasm"], env);
        await cli("auto", data.dir, ["data", "Iris.csv", "private.pem"], envOf(await text(page, '.cli-role[data-role="data_provider"] pre.cmd')));
        await untilText(page, "#timeline", /ConsumingResults/, "the timeline to show results ready");

        // Managers and their VMs (state, uptime, computation) while the run is up.
        await page.goto(`${url}/#/managers`);
        await untilText(page, 'tr[data-manager="local"]', /Iris training/, "the VM's computation on the managers page");
        await shot(page, "managers");

        // Attestation, verified in the browser: all checks pass, marked SIMULATED.
        await page.goto(`${url}/#/runs/${runId}/attestation`);
        await untilText(page, "#page-manifest-hash", new RegExp(`^${manifestHash}$`), "the page's own manifest hash");
        await page.click("#verify");
        await page.waitForSelector("#attestation-result");
        const pass = await page.$eval("#attestation-result", (el) => ({ ok: el.getAttribute("data-ok"), text: el.textContent }));
        expect(pass, pass.text ?? "").toEqual({ ok: "true", text: "✓ Attestation verified" });
        expect(await text(page, "#simulated-banner")).toContain("SIMULATED");
        expect(await text(page, "#verified-in-browser")).toContain("Verified in this browser");
        const groups = await page.$$eval("#check-groups tr", (rows) => rows.map((r) => [r.children[1]!.textContent, r.getAttribute("data-state")]));
        for (const [title, state] of groups) {
          if (title === "Measurement") expect(["passed", "not set by the policy"]).toContain(state!);
          else expect({ title, state }).toEqual({ title, state: "passed" });
        }
        await shot(page, "attestation-pass");

        // Relay adversary: one byte of the signed report flipped on its way to the page → a failed check.
        const cdp = await page.createCDPSession();
        await cdp.send("Fetch.enable", { patterns: [{ urlPattern: "*/api/runs/*/attestation", requestStage: "Response" }] });
        cdp.on("Fetch.requestPaused", async (e) => {
          const { body, base64Encoded } = await cdp.send("Fetch.getResponseBody", { requestId: e.requestId });
          const relayed = JSON.parse(base64Encoded ? Buffer.from(body, "base64").toString() : body);
          const evidence = Buffer.from(relayed.evidence_base64, "base64");
          evidence[0x100]! ^= 0x01; // id_key_digest: inside the signed bytes 0..0x2A0
          relayed.evidence_base64 = evidence.toString("base64");
          await cdp.send("Fetch.fulfillRequest", { requestId: e.requestId, responseCode: e.responseStatusCode ?? 200, responseHeaders: e.responseHeaders, body: Buffer.from(JSON.stringify(relayed)).toString("base64") });
        });
        await page.click("#verify");
        await page.waitForSelector('#attestation-result[data-ok="false"]');
        expect(await text(page, "#attestation-result")).toContain("snp.report_signature");
        const failed = await page.$$eval("#check-groups tr", (rows) => rows.map((r) => [r.children[1]!.textContent, r.getAttribute("data-state")]));
        expect(failed.find(([t]) => t === "Report signature")).toEqual(["Report signature", "failed"]);
        await shot(page, "attestation-fail");
        await cdp.send("Fetch.disable");
        await cdp.detach();

        // The result consumer (the owner) downloads the result; the page's timeline reaches completion.
        await page.goto(`${url}/#/computations/${computationId}`);
        await page.waitForSelector("#timeline");
        await cli("auto", owner.dir, ["result", "private.pem", "result.zip"], envOf(await text(page, '.cli-role[data-role="result_consumer"] pre.cmd')));
        await page.waitForSelector('#timeline li[data-event="agent:Complete/Completed"]', { timeout: 45_000 });
        await untilText(page, "#run-list", /completed/, "the run to show as completed");
        await shot(page, "computation-detail");
        await shot(page, "timeline", "#timeline-card");
        await page.goto(`${url}/#/`);
        await untilText(page, "#computations", /completed/, "the list to show the run completed");
        await shot(page, "computations");
        expect(cspViolations).toEqual([]);
      }, { viewport: VIEWPORT });
    }).finally(() => process.env.UPDATE_SCREENSHOTS || rmSync(SHOTS, { recursive: true, force: true }));
  },
  120_000,
);
