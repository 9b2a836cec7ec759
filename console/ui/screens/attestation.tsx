// The attestation page: a fresh nonce drawn here, the agent's evidence for it relayed by the
// console, verified here (attest.ts) — the console is not trusted with the verdict.
import { useEffect, useState } from "preact/hooks";
import { api, type Run } from "../api.ts";
import { freshNonce, groupChecks, manifestHashOf, verifyRelayed, type Outcome, type Relayed } from "../attest.ts";
import { ErrorLine, Section, useAction } from "../components.tsx";
import { href } from "../router.ts";

export function Attestation({ runId }: { runId: string }) {
  const [run, setRun] = useState<Run | null>(null);
  const [manifest, setManifest] = useState<{ json: string; hash: string } | null>(null);
  const [out, setOut] = useState<Outcome | null>(null);
  const [error, act, busy] = useAction();
  useEffect(() => {
    void act(async () => {
      const r = (await api<{ run: Run }>("GET", `/api/runs/${encodeURIComponent(runId)}`)).run;
      setRun(r);
      const m = await api<{ json: string | null }>("GET", `/api/computations/${encodeURIComponent(r.computation_id)}/manifest`);
      if (m.json) setManifest({ json: m.json, hash: manifestHashOf(m.json) });
    });
  }, [runId]);
  const verify = () => act(async () => {
    if (!manifest) throw new Error("the computation's manifest is not complete: nothing to compare host_data with");
    setOut(null);
    const nonce = freshNonce();
    const relayed = await api<Relayed>("POST", `/api/runs/${encodeURIComponent(runId)}/attestation`, { nonce: Array.from(nonce, (x) => x.toString(16).padStart(2, "0")).join("") });
    setOut(await verifyRelayed(relayed, nonce, manifest.hash));
  });
  return (
    <main>
      {run ? <p><a href={href.computation(run.computation_id)}>← Computation</a></p> : null}
      <h1>Attestation</h1>
      <p class="muted">
        This page draws a fresh 64-byte nonce, asks the run's agent (through the console) for evidence over it, and verifies the
        evidence <strong>in this browser</strong>: certificate chain, report signature and policy checks with WebCrypto and @noble/hashes,
        the report data against this page's own nonce, and host_data against the manifest hash computed here.
      </p>
      {run ? (
        <Section title={`Run ${run.id}`}>
          <p>Agent <code>{run.agent_address ?? "—"}</code> · state {run.state}</p>
          <p>Manifest SHA3-256, computed in this browser: <code class="hash" id="page-manifest-hash">{manifest?.hash ?? "—"}</code>
            {manifest && manifest.hash !== run.manifest_sha3_256 ? <span class="error"> (differs from the run's {run.manifest_sha3_256})</span> : null}</p>
          <button id="verify" disabled={busy || !manifest} onClick={() => void verify()}>{busy ? "Verifying…" : out ? "Verify again (new nonce)" : "Verify attestation"}</button>
        </Section>
      ) : null}
      <ErrorLine error={error} />
      {out ? <Result out={out} /> : null}
    </main>
  );
}

function Result({ out }: { out: Outcome }) {
  const groups = groupChecks([...out.verdict.checks, out.hostData]);
  return (
    <>
      {out.verdict.simulated ? (
        <div class="banner sim" id="simulated-banner" role="status">
          SIMULATED evidence: signed by a software root (no AMD SEV-SNP hardware). It proves the flow, not confidentiality.
        </div>
      ) : null}
      <div class={out.ok ? "banner pass" : "banner fail"} id="attestation-result" data-ok={String(out.ok)}>
        {out.ok ? "✓ Attestation verified" : `✗ Attestation failed: ${out.verdict.reason ?? out.hostData.detail}`}
      </div>
      <Section title="Checks">
        <table class="list" id="check-groups">
          <tbody>
            {groups.map((g) => (
              <tr data-state={g.state}>
                <td class={g.state === "passed" ? "ok" : g.state === "failed" ? "error" : "muted"}>{g.state === "passed" ? "✓ passed" : g.state === "failed" ? "✗ failed" : g.state}</td>
                <td>{g.title}</td>
                <td class="small-text muted">{g.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail ?? ""}${c.expected ? ` (expected ${c.expected}, got ${c.actual})` : ""}`).join("; ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p class="muted small-text" id="verified-in-browser">
          Verified in this browser ({navigator.userAgent.match(/(HeadlessChrome|Chrome|Firefox|Safari)\/[\d.]+/)?.[0] ?? "browser"}) in {out.ms.toFixed(0)} ms over {out.evidenceBytes} bytes of {out.verdict.kind} evidence.
          Nonce <code class="hash">{out.nonceHex}</code>; expected report data (SHA3-512, label cocos-attestation-rpc-v1) <code class="hash">{out.reportDataHex}</code>.
        </p>
        <details><summary>Every check ({out.verdict.checks.length + 1})</summary>
          <ul class="checks">
            {[...out.verdict.checks, out.hostData].map((c) => <li class={c.ok ? "ok" : "error"}>{c.ok ? "✓" : "✗"} {c.name}{c.detail ? ` — ${c.detail}` : ""}</li>)}
          </ul>
        </details>
      </Section>
    </>
  );
}
