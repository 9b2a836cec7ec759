// Builds (once per test process) a guest image around a tiny compiled Bun program, so image and
// QEMU tests do not wait for dist/cocos-agent. The .deb cache is the repo's images/cache.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildImage, type ImageManifest } from "../../images/build.ts";

export const repoRoot = resolve(import.meta.dir, "../..");
const made: string[] = [];
/** Removes every directory made here; call from afterAll (the next file then rebuilds). */
export function cleanupTemp(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  agentOnce = undefined;
  imageOnce = undefined;
}

export function tempDir(prefix: string): string {
  // Short paths: QEMU's Unix sockets must fit in 108 bytes.
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

let agentOnce: Promise<string> | undefined;
/** The stand-in agent (images/testdata/hello-agent.ts) compiled with `bun build --compile`. */
export function helloAgent(): Promise<string> {
  agentOnce ??= (async () => {
    const out = join(tempDir("cocos-hello-"), "hello-agent");
    const r = Bun.spawnSync([process.execPath, "build", "--compile", join(repoRoot, "images/testdata/hello-agent.ts"), "--outfile", out], { stderr: "pipe", stdout: "pipe" });
    if (r.exitCode !== 0) throw new Error(`bun build --compile of the hello agent failed: ${r.stderr.toString()}`);
    return out;
  })();
  return agentOnce;
}

/** ONNX Runtime as `bun run build` copies it to dist/onnxruntime, taken from its source (no dist/ needed). */
export const ortSource = join(repoRoot, "node_modules/onnxruntime-node/bin/napi-v6", process.platform, process.arch);

export async function buildHelloImage(): Promise<{ dir: string; manifest: ImageManifest }> {
  const dir = tempDir("cocos-img-");
  const manifest = await buildImage({ agent: await helloAgent(), out: dir, compress: false, ort: ortSource, log: () => {} });
  return { dir, manifest };
}

let imageOnce: Promise<{ dir: string; manifest: ImageManifest }> | undefined;
export function helloImage(): Promise<{ dir: string; manifest: ImageManifest }> {
  imageOnce ??= buildHelloImage();
  return imageOnce;
}

/** True when this machine can build and boot images (Debian tooling and QEMU present). */
export const haveDpkg = Bun.which("dpkg-deb") !== null && Bun.which("apt-get") !== null;
export const haveQemu = Bun.which("qemu-system-x86_64") !== null;
