// A real OCI registry for tests: Debian's `docker-registry` (the CNCF distribution registry 2.x),
// started on 127.0.0.1 with filesystem storage in a temp dir and no auth, plus plain-HTTP pushes
// (blob upload POST/PUT, manifest PUT) as any OCI client makes them.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ephemeralPort } from "../../manager/ports.ts";

export const REGISTRY_BIN = "docker-registry";

export function registryAvailable(): boolean {
  return spawnSync("sh", ["-c", `command -v ${REGISTRY_BIN}`]).status === 0;
}

export interface Registry {
  /** host:port */
  host: string;
  /** Pushes `bytes` as a one-layer OCI artifact; returns the manifest and layer digests. */
  push(repo: string, tag: string, layers: { bytes: Uint8Array; title?: string }[]): Promise<{ manifestDigest: string; layerDigests: string[] }>;
  stop(): Promise<void>;
}

const sha256 = (b: Uint8Array | string) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;

export async function startRegistry(): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), "registry-"));
  const port = await ephemeralPort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    ["version: 0.1", "log:", "  level: error", "storage:", "  filesystem:", `    rootdirectory: ${join(dir, "data")}`, "http:", `  addr: ${host}`, ""].join("\n"),
  );
  const proc: ChildProcess = spawn(REGISTRY_BIN, ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr!.on("data", (d) => (stderr += d));
  const base = `http://${host}`;
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/v2/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) break;
    if (i >= 100 || proc.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry did not come up on ${host}: ${stderr.slice(-500)}`);
    }
    await Bun.sleep(50);
  }

  async function pushBlob(repo: string, bytes: Uint8Array): Promise<string> {
    const digest = sha256(bytes);
    const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: "POST" });
    if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status} ${await start.text()}`);
    const loc = new URL(start.headers.get("location")!, base);
    loc.searchParams.set("digest", digest);
    const put = await fetch(loc, { method: "PUT", body: bytes, headers: { "content-type": "application/octet-stream" } });
    if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status} ${await put.text()}`);
    return digest;
  }

  return {
    host,
    async push(repo, tag, layers) {
      const config = new TextEncoder().encode("{}");
      const configDigest = await pushBlob(repo, config);
      const layerDigests: string[] = [];
      for (const l of layers) layerDigests.push(await pushBlob(repo, l.bytes));
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.byteLength },
        layers: layers.map((l, i) => ({
          mediaType: "application/octet-stream",
          digest: layerDigests[i],
          size: l.bytes.byteLength,
          ...(l.title ? { annotations: { "org.opencontainers.image.title": l.title } } : {}),
        })),
      });
      const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: "PUT", body: manifest, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } });
      if (res.status !== 201) throw new Error(`manifest put: HTTP ${res.status} ${await res.text()}`);
      return { manifestDigest: sha256(manifest), layerDigests };
    },
    stop,
  };
}
