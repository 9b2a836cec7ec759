import { describe, expect, test } from "bun:test";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { publicKeyDer } from "./keys.ts";
import { NonceWindow, audienceOf, signRequest, signRole, v2Message, verifyRequest, verifyRole, type Role } from "./signature.ts";

const pairs: [string, KeyObject][] = [
  ["rsa", generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey],
  ["ecdsa", generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey],
  ["ed25519", generateKeyPairSync("ed25519").privateKey],
];
const other = generateKeyPairSync("ed25519").privateKey;

function flip(b64: string): string {
  const b = Buffer.from(b64, "base64");
  b[b.length >> 1]! ^= 0x01;
  return b.toString("base64");
}

describe("v1 role signatures (Cocos)", () => {
  for (const [name, priv] of pairs) {
    const pub = publicKeyDer(priv);
    test(`${name}: sign/verify, flipped byte, wrong key, wrong role`, () => {
      const sig = signRole(priv, "data-provider");
      expect(verifyRole(pub, "data-provider", sig)).toBe(true);
      expect(verifyRole(pub, "data-provider", flip(sig))).toBe(false);
      expect(verifyRole(publicKeyDer(other), "data-provider", sig)).toBe(false);
      expect(verifyRole(pub, "consumer", sig)).toBe(false);
      expect(verifyRole(pub, "data-provider", "not base64!")).toBe(false);
    });
  }

  test("RSA signature is PKCS#1 v1.5 (deterministic), as Go's rsa.SignPKCS1v15", () => {
    const rsa = pairs[0]![1];
    expect(signRole(rsa, "consumer")).toBe(signRole(rsa, "consumer"));
  });
});

describe("v2 request signatures", () => {
  const binding = { role: "data-provider" as Role, method: "/agent.AgentService/Data", computationId: "c1" };
  for (const [name, priv] of pairs) {
    test(`${name}: accepted once, replay rejected`, () => {
      const nonces = new NonceWindow();
      const md = signRequest(priv, binding);
      const keys = [publicKeyDer(other), publicKeyDer(priv)];
      expect(verifyRequest(md, keys, { ...binding, nonces })).toEqual({ ok: true, index: 1, version: 2 });
      const again = verifyRequest(md, keys, { ...binding, nonces });
      expect(again.ok).toBe(false);
      expect(!again.ok && again.reason).toContain("replayed");
    });
  }

  const priv = pairs[2]![1];
  const keys = [publicKeyDer(priv)];
  const reason = (r: ReturnType<typeof verifyRequest>) => (r.ok ? "accepted" : r.reason);

  test("clock skew beyond the limit is rejected", () => {
    const md = signRequest(priv, binding, Date.now() - 10 * 60_000);
    expect(reason(verifyRequest(md, keys, { ...binding, nonces: new NonceWindow(), maxSkewMs: 60_000 }))).toContain("outside ±60000 ms");
    const future = signRequest(priv, binding, Date.now() + 10 * 60_000);
    expect(reason(verifyRequest(future, keys, { ...binding, nonces: new NonceWindow(), maxSkewMs: 60_000 }))).toContain("outside");
  });

  test("skew is strict at the limit: exactly the limit is refused, one millisecond inside accepted", () => {
    const now = 1_800_000_000_000;
    const skew = 60_000;
    const at = (ts: number) => reason(verifyRequest(signRequest(priv, binding, ts), keys, { ...binding, nonces: new NonceWindow(), now, maxSkewMs: skew }));
    expect(at(now - skew)).toContain("outside ±60000 ms");
    expect(at(now + skew)).toContain("outside ±60000 ms");
    expect(at(now - skew + 1)).toBe("accepted");
    expect(at(now + skew - 1)).toBe("accepted");
  });

  test("a nonce is remembered for as long as its timestamp is accepted (replay at the far edge refused)", () => {
    const t0 = 1_800_000_000_000;
    const skew = 60_000;
    const nonces = new NonceWindow();
    // Signed at the future edge, first seen at once, replayed at the last instant it is still in range.
    const md = signRequest(priv, binding, t0 + skew - 1);
    expect(verifyRequest(md, keys, { ...binding, nonces, now: t0, maxSkewMs: skew }).ok).toBe(true);
    expect(reason(verifyRequest(md, keys, { ...binding, nonces, now: t0 + 2 * skew - 2, maxSkewMs: skew }))).toContain("replayed");
    expect(reason(verifyRequest(md, keys, { ...binding, nonces, now: t0 + 2 * skew - 1, maxSkewMs: skew }))).toContain("outside");
  });

  test("bound to the agent (audience): a signature for one agent's TLS key fails at another", () => {
    const agentA = audienceOf(publicKeyDer(generateKeyPairSync("ed25519").privateKey));
    const agentB = audienceOf(publicKeyDer(generateKeyPairSync("ed25519").privateKey));
    expect(agentA).toMatch(/^[0-9a-f]{64}$/);
    expect(audienceOf(new Uint8Array(0))).toBe("");
    const md = signRequest(priv, { ...binding, audience: agentA });
    expect(md["signature-audience"]).toBe(agentA);
    expect(verifyRequest(md, keys, { ...binding, audience: agentA, nonces: new NonceWindow() }).ok).toBe(true);
    // With the hint: named as an audience mismatch, before any signature work.
    expect(reason(verifyRequest(md, keys, { ...binding, audience: agentB, nonces: new NonceWindow() }))).toContain(`signature audience mismatch: signed for the agent whose TLS key has SHA3-256 ${agentA}, this agent's is ${agentB}`);
    // Without the hint (stripped by the replaying party): the signature itself does not verify.
    const { "signature-audience": _, ...stripped } = md;
    expect(reason(verifyRequest(stripped, keys, { ...binding, audience: agentB, nonces: new NonceWindow() }))).toContain(`verification failed for role data-provider on /agent.AgentService/Data (audience ${agentB})`);
    // A hint that lies (claims B while signed for A) gains nothing either.
    expect(reason(verifyRequest({ ...md, "signature-audience": agentB }, keys, { ...binding, audience: agentB, nonces: new NonceWindow() }))).toContain("verification failed");
    // An agent without TLS accepts only the empty audience.
    expect(reason(verifyRequest(md, keys, { ...binding, nonces: new NonceWindow() }))).toContain("this agent's is <none: no TLS>");
    expect(reason(verifyRequest(stripped, keys, { ...binding, nonces: new NonceWindow() }))).toContain("verification failed");
    expect(() => v2Message({ ...binding, audience: "AB" }, 1, "00")).toThrow("audience must be 64 lowercase hex digits");
  });

  test("bound to method, computation and role", () => {
    const md = signRequest(priv, binding);
    expect(reason(verifyRequest(md, keys, { ...binding, method: "/agent.AgentService/Algo", nonces: new NonceWindow() }))).toContain("verification failed");
    expect(reason(verifyRequest(md, keys, { ...binding, computationId: "c2", nonces: new NonceWindow() }))).toContain("verification failed");
    expect(reason(verifyRequest(md, keys, { ...binding, role: "consumer", nonces: new NonceWindow() }))).toContain("verification failed");
  });

  test("tampered timestamp or nonce breaks the signature", () => {
    const md = signRequest(priv, binding);
    expect(reason(verifyRequest({ ...md, "signature-timestamp": String(Number(md["signature-timestamp"]) + 1) }, keys, { ...binding, nonces: new NonceWindow() }))).toContain("verification failed");
    expect(reason(verifyRequest({ ...md, "signature-nonce": "0".repeat(32) }, keys, { ...binding, nonces: new NonceWindow() }))).toContain("verification failed");
  });

  test("a failed verification does not burn the nonce", () => {
    const nonces = new NonceWindow();
    const md = signRequest(priv, binding);
    expect(verifyRequest(md, [publicKeyDer(other)], { ...binding, nonces }).ok).toBe(false);
    expect(verifyRequest(md, keys, { ...binding, nonces }).ok).toBe(true);
  });

  test("v2-only refuses v1; v1 accepted otherwise", () => {
    const md = { "user-id": "data-provider", signature: signRole(priv, "data-provider") };
    expect(verifyRequest(md, keys, { ...binding, nonces: new NonceWindow() })).toEqual({ ok: true, index: 0, version: 1 });
    expect(reason(verifyRequest(md, keys, { ...binding, nonces: new NonceWindow(), requireV2: true }))).toContain("requires v2");
  });

  test("missing or duplicated signature metadata", () => {
    expect(reason(verifyRequest({}, keys, { ...binding, nonces: new NonceWindow() }))).toContain("exactly one");
    expect(reason(verifyRequest({ signature: ["a", "b"] }, keys, { ...binding, nonces: new NonceWindow() }))).toContain("got 2");
  });

  test("nonce window is bounded and forgets expired nonces", () => {
    const w = new NonceWindow(2);
    expect(w.claim("a", 100, 0)).toBe("ok");
    expect(w.claim("b", 100, 0)).toBe("ok");
    expect(w.claim("c", 100, 0)).toBe("full");
    expect(w.claim("a", 100, 50)).toBe("replay");
    expect(w.claim("c", 300, 150)).toBe("ok"); // a and b expired at 100
    expect(w.size).toBe(1);
  });
});
