// Builds (once per test process) a guest image around a tiny compiled Bun program, so image and
// QEMU tests do not wait for dist/cocos-agent. The .deb cache is the repo's images/cache.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildImage, type ImageManifest } from "../../images/build.ts";
import { type Flavour, initrdName } from "../../images/flavours/index.ts";
import { build } from "../../scripts/build.ts";

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

export async function buildHelloImage(flavour: Flavour = "minimal"): Promise<{ dir: string; manifest: ImageManifest }> {
  const dir = tempDir("cocos-img-");
  const manifest = await buildImage({ agent: await helloAgent(), out: dir, compress: false, ort: ortSource, flavour, log: () => {} });
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

/**
 * dist/ binaries and images/out as CI has them: built here when missing, older than the agent, or
 * (for a flavour other than minimal) when image.json does not describe that flavour.
 */
export async function ensureBuilt(flavour: Flavour = "minimal"): Promise<void> {
  const dist = join(repoRoot, "dist");
  const imageOut = join(repoRoot, "images", "out");
  if (!["cocos-agent", "cocos-manager", "cocos-cli"].every((b) => existsSync(join(dist, b)))) await build();
  const initrd = join(imageOut, initrdName(flavour));
  const described = (): boolean => {
    try {
      return flavour in (JSON.parse(readFileSync(join(imageOut, "image.json"), "utf8")) as ImageManifest).flavours;
    } catch {
      return false;
    }
  };
  const stale =
    !existsSync(initrd) ||
    !existsSync(join(imageOut, "vmlinux")) ||
    statSync(initrd).mtimeMs < statSync(join(dist, "cocos-agent")).mtimeMs ||
    // An image.json from before the agent-disk layout (bench/boot.ts and the disk tests read it).
    !existsSync(join(imageOut, "agent.disk")) ||
    (flavour !== "minimal" && !described());
  // Uncompressed only: the boot uses the .cpio, and zstd -17 would add minutes.
  if (stale) await buildImage({ compress: false, flavour, log: () => {} });
}
