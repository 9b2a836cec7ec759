// Debian packages for the image, fetched once with `apt-get download` into images/cache and
// unpacked with dpkg-deb. With everything cached the build needs no network.
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

function run(cmd: string[], cwd?: string): string {
  const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0)
    throw new Error(`${cmd.join(" ")} failed with exit status ${r.exitCode}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

export function cachedDeb(cacheDir: string, pkg: string): string | undefined {
  const hits = readdirSync(cacheDir)
    .filter((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"))
    .sort();
  return hits.length ? join(cacheDir, hits[hits.length - 1]) : undefined;
}

/** Path of the cached .deb of `pkg`, downloading it unless `offline`. */
export function fetchDeb(cacheDir: string, pkg: string, offline: boolean): string {
  mkdirSync(cacheDir, { recursive: true });
  const hit = cachedDeb(cacheDir, pkg);
  if (hit) return hit;
  if (offline) throw new Error(`expected ${pkg}_*.deb in ${cacheDir} (offline build), found none; run once without --offline`);
  run(["apt-get", "download", pkg], cacheDir);
  const got = cachedDeb(cacheDir, pkg);
  if (!got) throw new Error(`apt-get download ${pkg} succeeded but left no ${pkg}_*.deb in ${cacheDir}`);
  return got;
}

export function debField(deb: string, field: string): string {
  return run(["dpkg-deb", "-f", deb, field]).trim();
}

/** Unpacks a .deb once into cacheDir/root/<name>; returns that directory. */
export function extractDeb(cacheDir: string, deb: string): string {
  const name = deb.split("/").pop()!.replace(/\.deb$/, "");
  const dir = join(cacheDir, "root", name);
  const done = join(dir, ".extracted");
  if (!existsSync(done)) {
    mkdirSync(dir, { recursive: true });
    run(["dpkg-deb", "-x", deb, dir]);
    Bun.spawnSync(["touch", done]);
  }
  return dir;
}

/** The versioned kernel package the `linux-image-amd64` metapackage points at. */
export function kernelPackage(cacheDir: string, meta: string, offline: boolean): string {
  const depends = debField(fetchDeb(cacheDir, meta, offline), "Depends");
  const m = depends.match(/linux-image-[0-9][^\s,(]*/);
  if (!m) throw new Error(`expected ${meta} to depend on a linux-image-<version> package, its Depends is "${depends}"`);
  return m[0];
}
