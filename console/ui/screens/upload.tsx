// A data provider's encrypted upload: pick the dataset and the private key file; the page verifies
// the agent's upload-key evidence, checks the file against the manifest, encrypts it to the attested
// key and signs the call here (upload.ts). The console relays ciphertext only.
import { useEffect, useState } from "preact/hooks";
import { api, type Run } from "../api.ts";
import { ErrorLine, Section, useAction } from "../components.tsx";
import { href } from "../router.ts";
import { sealedDatasetUpload, type UploadDone } from "../upload.ts";

export function Upload({ runId }: { runId: string }) {
  const [run, setRun] = useState<Run | null>(null);
  const [file, setFile] = useState<File | null>(null);
  const [keyPem, setKeyPem] = useState<string | null>(null);
  const [step, setStep] = useState("");
  const [done, setDone] = useState<UploadDone | null>(null);
  const [error, act, busy] = useAction();
  useEffect(() => {
    void act(async () => setRun((await api<{ run: Run }>("GET", `/api/runs/${encodeURIComponent(runId)}`)).run));
  }, [runId]);
  const pickKey = (f: File | undefined) => void (f ? f.text().then(setKeyPem) : setKeyPem(null));
  const upload = () => act(async () => {
    if (!file || !keyPem) throw new Error("pick the dataset file and your private key file first");
    setDone(null);
    try {
      setDone(await sealedDatasetUpload(runId, file, keyPem, setStep));
    } finally {
      setStep("");
    }
  });
  return (
    <main>
      {run ? <p><a href={href.computation(run.computation_id)}>← Computation</a></p> : null}
      <h1>Upload a dataset, encrypted in this browser</h1>
      <p class="muted">
        This page verifies the agent's evidence <strong>in this browser</strong> (a fresh nonce, the run's policy, the manifest hash,
        and the agent's upload key bound into the report), checks your file against the manifest's SHA3-256, encrypts it with a
        fresh AES-256-GCM key wrapped to the attested upload key (HPKE), and signs the upload with your private key. The console
        only relays ciphertext: it never sees the file, the AES key or your private key.
      </p>
      {run ? (
        <Section title={`Run ${run.id}`}>
          <p>Agent <code>{run.agent_address ?? "—"}</code> · state {run.state}</p>
          <form id="sealed-upload" onSubmit={(e) => { e.preventDefault(); void upload(); }}>
            <label>Dataset file <input type="file" name="dataset" onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0] ?? null)} /></label>
            <label>Your private key (PEM, stays in this browser) <input type="file" name="private_key" onChange={(e) => pickKey((e.currentTarget as HTMLInputElement).files?.[0])} /></label>
            <button type="submit" id="upload" disabled={busy || !file || !keyPem}>{busy ? "Working…" : "Verify, encrypt and upload"}</button>
          </form>
          {step ? <p class="muted" id="upload-step">{step}</p> : null}
        </Section>
      ) : null}
      <ErrorLine error={error} />
      {done ? (
        <div class="banner pass" id="upload-result" data-ok="true">
          ✓ Uploaded {file?.name}: SHA3-256 <code class="hash">{done.sha3}</code> matched the manifest; {done.ciphertextBytes} bytes of
          ciphertext sent to the agent whose evidence verified here{done.outcome.verdict.simulated ? " (SIMULATED evidence)" : ""}.
        </div>
      ) : null}
    </main>
  );
}
