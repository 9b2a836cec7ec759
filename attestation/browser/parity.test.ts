// One implementation, two backends: the browser verifier (WebCrypto + @noble/hashes, here on Bun's
// crypto.subtle) must return exactly the server verifier's verdict (node:crypto) for every case.
import { describe, expect, test } from "bun:test";
import { verifyEvidenceInBrowser } from "./index.ts";
import { buildVerifierBundle, verifierBundleMacro } from "./build.ts";
import { webCryptoBackend } from "../crypto/webcrypto.ts";
import { nodeBackend } from "../crypto/node.ts";
import { clearSignatureMemo, runAsync, runSync, check, type VerifyOp } from "../crypto/backend.ts";
import { ecdsaDerToP1363 } from "../certificate.ts";
import { fromHex, toHex } from "../encoding.ts";
import { serverVerdict, verifyCases, type VerifyCase } from "../testdata/verify-cases.ts";
import { generateKeyPairSync, sign } from "node:crypto";

const cases = verifyCases();

const inBrowser = (c: VerifyCase) =>
  verifyEvidenceInBrowser(c.evidence, JSON.stringify(c.policy), { ...c.opts });

describe("browser verifier = server verifier", () => {
  test("every case: identical verdicts (checks with names, ok, expected/actual/detail; code; claims)", async () => {
    for (const c of cases) {
      const server = serverVerdict(c);
      const browser = await inBrowser(c);
      expect({ name: c.name, v: browser }).toEqual({ name: c.name, v: server });
      if (c.fails) {
        expect({ name: c.name, ok: server.ok }).toEqual({ name: c.name, ok: false });
        expect(server.checks.find((k) => k.name === c.fails && !k.ok), c.name).toBeDefined();
      } else expect({ name: c.name, reason: server.reason }).toEqual({ name: c.name, reason: undefined });
      expect({ name: c.name, simulated: browser.simulated }).toEqual({ name: c.name, simulated: !!c.simulated });
    }
  });

  test("mutated evidence (report, certificate table, certificates): identical verdicts, never an exception", async () => {
    let seed = 0x9e3779b9;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % n);
    for (const name of ["sim fresh evidence", "snp trustee with its certificate table"]) {
      const c = cases.find((x) => x.name === name)!;
      for (let i = 0; i < 40; i++) {
        const ev = c.evidence.slice();
        const at = i < 10 ? rand(0x330) : 0x4a0 + rand(ev.length - 0x4a0); // a quarter in the signed report + signature, the rest in the table
        ev[at] ^= 1 << rand(8);
        const m = { ...c, evidence: ev };
        const server = serverVerdict(m);
        expect({ at, v: await inBrowser(m) }).toEqual({ at, v: server });
        expect({ at, ok: server.ok }).toEqual({ at, ok: false });
      }
    }
  });

  test("the memo never answers across backends: a cold WebCrypto run after a node run still verifies", async () => {
    const c = cases.find((x) => x.name === "snp trustee with its certificate table")!;
    clearSignatureMemo();
    expect(serverVerdict(c).ok).toBe(true);
    expect((await inBrowser(c)).ok).toBe(true);
  });

  test("bad policy JSON and a bad time are verdicts, not exceptions", async () => {
    const c = cases[0]!;
    const v = await verifyEvidenceInBrowser(c.evidence, "{not json", {});
    expect(v.ok).toBe(false);
    expect(v.code).toBe("snp.policy_invalid");
    expect((await verifyEvidenceInBrowser(c.evidence, "{}", { at: "yesterday" })).code).toBe("snp.policy_invalid");
  });
});

describe("WebCrypto backend", () => {
  const web = webCryptoBackend();
  const data = new TextEncoder().encode("signed bytes");

  test("digests equal node:crypto's (SHA-256/384, SHA3-256/512 from @noble/hashes)", () => {
    for (const alg of ["sha256", "sha384", "sha3-256", "sha3-512"] as const) expect(toHex(web.digest(alg, data))).toBe(toHex(nodeBackend.digest(alg, data)));
  });

  test("RSA-PSS SHA-384 salt 48, PKCS#1 v1.5, ECDSA P-256/P-384; a wrong salt length, curve or byte fails", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const spki = (k: typeof rsa.publicKey) => new Uint8Array(k.export({ format: "der", type: "spki" }));
    const pss = new Uint8Array(sign("sha384", data, { key: rsa.privateKey, padding: 6, saltLength: 48 }));
    const pkcs = new Uint8Array(sign("sha256", data, rsa.privateKey));
    const ec384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const ec256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const es384 = new Uint8Array(sign("sha384", data, { key: ec384.privateKey, dsaEncoding: "ieee-p1363" }));
    const es256der = new Uint8Array(sign("sha256", data, ec256.privateKey));
    const ops: [VerifyOp, boolean][] = [
      [{ alg: { name: "RSA-PSS", hash: "sha384", saltLength: 48 }, spki: spki(rsa.publicKey), signature: pss, data }, true],
      [{ alg: { name: "RSA-PSS", hash: "sha384", saltLength: 32 }, spki: spki(rsa.publicKey), signature: pss, data }, false],
      [{ alg: { name: "RSASSA-PKCS1-v1_5", hash: "sha256" }, spki: spki(rsa.publicKey), signature: pkcs, data }, true],
      [{ alg: { name: "ECDSA", hash: "sha384", curve: "P-384" }, spki: spki(ec384.publicKey), signature: es384, data }, true],
      [{ alg: { name: "ECDSA", hash: "sha384", curve: "P-256" }, spki: spki(ec384.publicKey), signature: es384, data }, false],
      [{ alg: { name: "ECDSA", hash: "sha384", curve: "P-384" }, spki: spki(ec384.publicKey), signature: es384, data: fromHex("00") }, false],
      [{ alg: { name: "ECDSA", hash: "sha256", curve: "P-256" }, spki: spki(ec256.publicKey), signature: ecdsaDerToP1363(es256der, "P-256")!, data }, true],
      [{ alg: { name: "ECDSA", hash: "sha256", curve: "P-256" }, spki: new Uint8Array(10), signature: new Uint8Array(64), data }, false],
    ];
    for (const [op, want] of ops) {
      expect({ op: op.alg, ok: await runAsync(check(op), web) }).toEqual({ op: op.alg, ok: want });
      expect({ op: op.alg, ok: runSync(check(op), nodeBackend) }).toEqual({ op: op.alg, ok: want });
    }
  });

  test("runSync refuses an asynchronous backend (it would skip the check)", () => {
    const op: VerifyOp = { alg: { name: "ECDSA", hash: "sha384", curve: "P-384" }, spki: new Uint8Array(1), signature: new Uint8Array(96), data };
    expect(() => runSync(check(op), web)).toThrow(/asynchronous/);
  });
});

describe("browser bundle", () => {
  test("builds for target browser with no node:/bun: module or server global", async () => {
    const js = await buildVerifierBundle();
    expect(js).toContain("verifyEvidenceInBrowser");
    expect(js).toContain("BEGIN CERTIFICATE"); // pinned AMD/Intel roots travel as text
    expect(verifierBundleMacro()).toBe(js); // what a compiled server inlines with { type: "macro" }
  });
});
