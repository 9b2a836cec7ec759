// `docker` algorithms: the upload is a `docker save` tarball. Through the Engine API on its Unix
// socket: load the image, create a container (datasets read-only at /cocos/datasets, results at
// /cocos/results, no network, memory cap), start it, stream its logs, wait, then remove the
// container and the image. Unlike Cocos, the exit code is checked and the run limits apply.
import { resolve } from "node:path";
import type { LimitKind, RunLimits, RunOutcome, Runner, RunSpec } from "../types.ts";
import { AlgorithmError } from "../types.ts";
import { DockerEngine, StreamDemuxer, engineSocket } from "./docker-engine.ts";
import { resolveLimits } from "./limits.ts";
import { LineSplitter } from "./lines.ts";
import { resultsMessage, watchResultsSize } from "./results-watch.ts";
import { listTar, readTarEntry } from "./tar.ts";

export const CONTAINER_DATASETS = "/cocos/datasets";
export const CONTAINER_RESULTS = "/cocos/results";
/** Label on every container this runner creates. */
export const RUN_LABEL = "cocos.run";

const DRAIN_GRACE_MS = 2000;

/**
 * Checks that the file is a `docker save` tarball holding exactly one image, before the engine sees
 * it; returns the image's tags. Throws AlgorithmError saying what was expected.
 */
export async function checkImageTar(path: string): Promise<{ repoTags: string[] }> {
  let entries;
  try {
    entries = await listTar(path);
  } catch (err) {
    throw new AlgorithmError(`docker image: ${(err as Error).message}`);
  }
  const manifestEntry = entries.find((e) => e.name === "manifest.json");
  if (!manifestEntry) {
    throw new AlgorithmError(
      `docker image: expected a "docker save" tarball with manifest.json, got a tar of ${entries.length} entries without one`,
    );
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(new TextDecoder().decode(await readTarEntry(path, manifestEntry)));
  } catch (err) {
    throw new AlgorithmError(`docker image: manifest.json is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(manifest) || manifest.length !== 1) {
    const got = Array.isArray(manifest) ? `${manifest.length} images` : typeof manifest;
    throw new AlgorithmError(`docker image: expected manifest.json to describe exactly one image, got ${got}`);
  }
  const image = manifest[0] as { Config?: unknown; Layers?: unknown; RepoTags?: unknown };
  if (typeof image.Config !== "string" || !Array.isArray(image.Layers)) {
    throw new AlgorithmError("docker image: expected manifest.json entry with Config and Layers");
  }
  return { repoTags: Array.isArray(image.RepoTags) ? image.RepoTags.map(String) : [] };
}

/** Loads the tarball; returns the reference the engine reports ("Loaded image: NAME" or "Loaded image ID: ID"). */
async function loadImage(engine: DockerEngine, path: string, signal?: AbortSignal): Promise<string> {
  let text: string;
  try {
    const response = await engine.request("/images/load", {
      method: "POST",
      query: { quiet: "1" },
      body: Bun.file(path),
      contentType: "application/x-tar",
      signal,
      noIdleTimeout: true,
    });
    text = await response.text();
  } catch (err) {
    throw new AlgorithmError(`docker image load failed: ${(err as Error).message}`);
  }
  let loaded: string | null = null;
  for (const line of text.split("\n")) {
    let message: { stream?: string; error?: string; errorDetail?: { message?: string } };
    try {
      message = JSON.parse(line);
    } catch {
      continue;
    }
    const error = message.error ?? message.errorDetail?.message;
    if (error) throw new AlgorithmError(`docker image load failed: ${error}`);
    const match = /Loaded image(?: ID)?: (\S+)/.exec(message.stream ?? "");
    if (match) loaded = match[1]!;
  }
  if (!loaded) throw new AlgorithmError(`docker image load: expected "Loaded image: NAME" from the engine, got ${JSON.stringify(text.slice(0, 200))}`);
  return loaded;
}

interface ImageInspect {
  Id: string;
  Config?: { Cmd?: string[] | null; Entrypoint?: string[] | null };
}

/**
 * The container command: the image's own CMD when there are no args (as Cocos does); otherwise the
 * args are appended to the image's CMD so they reach its program as arguments (ENTRYPOINT stays).
 */
export function containerCmd(image: ImageInspect, args: string[]): string[] | undefined {
  if (args.length === 0) return undefined;
  return [...(image.Config?.Cmd ?? []), ...args];
}

function containerConfig(spec: RunSpec, image: ImageInspect, limits: RunLimits, runId: string) {
  return {
    Image: image.Id,
    Cmd: containerCmd(image, spec.args),
    Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
    Tty: false,
    AttachStdout: true,
    AttachStderr: true,
    NetworkDisabled: true,
    Labels: { [RUN_LABEL]: runId },
    HostConfig: {
      Binds: [`${resolve(spec.datasetsDir)}:${CONTAINER_DATASETS}:ro`, `${resolve(spec.resultsDir)}:${CONTAINER_RESULTS}`],
      NetworkMode: "none",
      Memory: limits.memoryBytes,
      MemorySwap: limits.memoryBytes,
      PidsLimit: 4096,
      SecurityOpt: ["no-new-privileges"],
    },
  };
}

type Stop = { kind: "limit"; limit: LimitKind; message: string } | { kind: "aborted"; message: string };

export const dockerRunner: Runner = {
  type: "docker",
  async unavailable() {
    try {
      return await new DockerEngine(engineSocket()).unreachable();
    } catch (err) {
      return (err as Error).message;
    }
  },
  async run(spec: RunSpec): Promise<RunOutcome> {
    const limits = resolveLimits(spec);
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    if (spec.signal?.aborted) return { kind: "aborted", message: "aborted before start", durationMs: 0 };
    let engine: DockerEngine;
    try {
      await checkImageTar(spec.algorithmPath);
      engine = new DockerEngine(engineSocket());
      const down = await engine.unreachable();
      if (down) return { kind: "error", message: down, durationMs: elapsed() };
    } catch (err) {
      return { kind: "error", message: (err as Error).message, durationMs: elapsed() };
    }

    let imageId: string | null = null;
    let containerId: string | null = null;
    try {
      const reference = await loadImage(engine, spec.algorithmPath, spec.signal);
      const image = await engine.json<ImageInspect>(`/images/${encodeURIComponent(reference)}/json`);
      imageId = image.Id;
      const runId = crypto.randomUUID();
      const created = await engine.json<{ Id: string }>("/containers/create", {
        method: "POST",
        query: { name: `cocos-${runId}` },
        json: containerConfig(spec, image, limits, runId),
      });
      containerId = created.Id;
      return await runContainer(engine, containerId, spec, limits, started);
    } catch (err) {
      return { kind: "error", message: (err as Error).message, durationMs: elapsed() };
    } finally {
      if (containerId) await removeWithRetry(engine, `/containers/${containerId}`, { force: "1", v: "1" });
      if (imageId) await removeWithRetry(engine, `/images/${imageId}`, { force: "1" });
    }
  },
};

/**
 * DELETEs an engine object until it is gone: right after a kill the engine can answer 409 ("removal
 * already in progress", a container still using the image) or fail under load, and a run must not
 * leave its container or the uploaded image behind.
 */
async function removeWithRetry(engine: DockerEngine, path: string, query: Record<string, string>): Promise<void> {
  for (let attempt = 0; attempt < REMOVE_ATTEMPTS; attempt++) {
    const status = await engine
      .request(path, { method: "DELETE", query })
      .then((r) => r.status)
      .catch(() => 0);
    if ((status >= 200 && status < 300) || status === 404) return;
    await Bun.sleep(REMOVE_RETRY_MS * (attempt + 1));
  }
}

const REMOVE_ATTEMPTS = 6;
const REMOVE_RETRY_MS = 200;

async function runContainer(engine: DockerEngine, id: string, spec: RunSpec, limits: RunLimits, started: number): Promise<RunOutcome> {
  const elapsed = () => Math.round(performance.now() - started);
  const streams = new AbortController();
  let stop: Stop | null = null;
  const halt = (reason: Stop) => {
    if (stop) return;
    stop = reason;
    engine.request(`/containers/${id}/kill`, { method: "POST" }).catch(() => {
      // not running any more
    });
  };

  await engine.request(`/containers/${id}/start`, { method: "POST" });
  const timer = setTimeout(
    () => halt({ kind: "limit", limit: "timeout", message: `wall-clock limit of ${limits.timeoutMs} ms passed` }),
    limits.timeoutMs,
  );
  const onAbort = () => halt({ kind: "aborted", message: `aborted: ${String(spec.signal?.reason ?? "stop requested")}` });
  spec.signal?.addEventListener("abort", onAbort, { once: true });
  const watcher = watchResultsSize(spec.resultsDir, limits.maxResultsBytes, (size) =>
    halt({ kind: "limit", limit: "results-size", message: resultsMessage(size, limits.maxResultsBytes) }),
  );

  const logs = pumpLogs(engine, id, spec, limits, streams.signal, () =>
    halt({ kind: "limit", limit: "stdio-size", message: `stdout + stderr passed ${limits.maxStdioBytes} bytes` }),
  );
  try {
    const waited = await engine.json<{ StatusCode: number; Error?: { Message?: string } | null }>(`/containers/${id}/wait`, {
      method: "POST",
      noIdleTimeout: true,
    });
    const drained = await Promise.race([logs.then(() => true), Bun.sleep(DRAIN_GRACE_MS).then(() => false)]);
    if (!drained) streams.abort();
    await logs;
    watcher.stop();
    if (!stop) await watcher.check();
    const reason = stop as Stop | null;
    if (reason) return { ...reason, durationMs: elapsed() };
    const state = await engine.json<{ State?: { OOMKilled?: boolean } }>(`/containers/${id}/json`);
    if (state.State?.OOMKilled) {
      return { kind: "limit", limit: "memory", message: `killed by the engine: memory passed ${limits.memoryBytes} bytes`, durationMs: elapsed() };
    }
    if (waited.Error?.Message) return { kind: "error", message: `container: ${waited.Error.Message}`, durationMs: elapsed() };
    return { kind: "exit", code: waited.StatusCode, durationMs: elapsed() };
  } finally {
    clearTimeout(timer);
    watcher.stop();
    spec.signal?.removeEventListener("abort", onAbort);
    streams.abort();
  }
}

/** Follows the container's logs into onLog, line by line per stream, under the stdio cap. */
async function pumpLogs(
  engine: DockerEngine,
  id: string,
  spec: RunSpec,
  limits: RunLimits,
  signal: AbortSignal,
  onCap: () => void,
): Promise<void> {
  const lines = {
    stdout: new LineSplitter((line) => spec.onLog?.("stdout", line)),
    stderr: new LineSplitter((line) => spec.onLog?.("stderr", line)),
  };
  let bytes = 0;
  let capped = false;
  const demuxer = new StreamDemuxer((stream, payload) => {
    if (capped) return;
    const room = limits.maxStdioBytes - bytes;
    bytes += payload.length;
    if (payload.length > room) {
      capped = true;
      lines[stream].push(payload.subarray(0, Math.max(0, room)));
      onCap();
      return;
    }
    lines[stream].push(payload);
  });
  try {
    const response = await engine.request(`/containers/${id}/logs`, {
      query: { follow: "1", stdout: "1", stderr: "1" },
      signal,
      noIdleTimeout: true,
    });
    const reader = response.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done || capped) break;
      demuxer.push(value);
    }
    if (capped) await reader.cancel().catch(() => {});
  } catch {
    // aborted after the drain grace, or the container went away
  } finally {
    lines.stdout.flush();
    lines.stderr.flush();
  }
}
