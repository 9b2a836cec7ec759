// The "full" guest flavour: the minimal image plus Python 3 (venv, pip) and Podman, so `python` and
// `docker` algorithms run inside the VM. Everything comes from Debian bookworm packages in the
// images/cache mechanism (debian.ts): the packages below are unpacked whole (minus documentation),
// and every shared library their ELF files name in DT_NEEDED is resolved through a fixed soname →
// package table, as native-sandbox.ts does for the sandbox tools (a new dependency fails the build
// instead of being guessed). Podman runs daemonless as `podman system service` started by /init; the
// agent's docker runner reaches its Docker-compatible API through DOCKER_HOST.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { CpioEntry } from "../cpio.ts";
import { elfNeeded, libraryEntries, packageRoots } from "../native-sandbox.ts";

/** Packages unpacked whole into the image. */
export const FULL_PACKAGES: readonly string[] = [
  // Python 3.11 with its standard library, venv (ensurepip and the wheels it installs) and pip.
  "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "python3.11", "python3-minimal", "python3",
  "python3.11-venv", "python3-venv", "python3-pip-whl", "python3-setuptools-whl", "python3-distutils", "python3-lib2to3",
  "python3-pip", "python3-setuptools", "python3-pkg-resources", "python3-wheel",
  // Podman with crun as OCI runtime, conmon as container monitor, and containers-common's
  // policy.json, seccomp.json and containers.conf defaults.
  "podman", "crun", "conmon", "golang-github-containers-common",
];

/** The Debian package of each shared library the packages above need (beyond the minimal image's). */
export const FULL_LIBRARY_PACKAGES: Readonly<Record<string, string>> = {
  "libz.so.1": "zlib1g",
  "libexpat.so.1": "libexpat1",
  "libbz2.so.1.0": "libbz2-1.0",
  "libcrypt.so.1": "libcrypt1",
  "libcrypto.so.3": "libssl3",
  "libssl.so.3": "libssl3",
  "libdb-5.3.so": "libdb5.3",
  "libffi.so.8": "libffi8",
  "liblzma.so.5": "liblzma5",
  "libncursesw.so.6": "libncursesw6",
  "libpanelw.so.6": "libncursesw6",
  "libtinfo.so.6": "libtinfo6",
  "libreadline.so.8": "libreadline8",
  "libnsl.so.2": "libnsl2",
  "libtirpc.so.3": "libtirpc3",
  "libgssapi_krb5.so.2": "libgssapi-krb5-2",
  "libkrb5.so.3": "libkrb5-3",
  "libk5crypto.so.3": "libk5crypto3",
  "libkrb5support.so.0": "libkrb5support0",
  "libcom_err.so.2": "libcom-err2",
  "libkeyutils.so.1": "libkeyutils1",
  "libresolv.so.2": "libc6",
  "libsqlite3.so.0": "libsqlite3-0",
  "libuuid.so.1": "libuuid1",
  // podman, crun, conmon
  "libsubid.so.4": "libsubid4",
  "libaudit.so.1": "libaudit1",
  "libsemanage.so.2": "libsemanage2",
  "libsepol.so.2": "libsepol2",
  "libpam.so.0": "libpam0g",
  "libpam_misc.so.0": "libpam0g",
  "libgpgme.so.11": "libgpgme11",
  "libassuan.so.0": "libassuan0",
  "libgpg-error.so.0": "libgpg-error0",
  "libseccomp.so.2": "libseccomp2",
  "libdevmapper.so.1.02.1": "libdevmapper1.02.1",
  "libudev.so.1": "libudev1",
  "libsystemd.so.0": "libsystemd0",
  "libgcrypt.so.20": "libgcrypt20",
  "liblz4.so.1": "liblz4-1",
  "libzstd.so.1": "libzstd1",
  "libyajl.so.2": "libyajl2",
  "libglib-2.0.so.0": "libglib2.0-0",
};

/** Parts of a package an image never needs. */
const SKIPPED = /^(usr\/share\/(doc|man|lintian|bash-completion|zsh|fish|locale|info|bug|menu)|usr\/lib\/systemd|lib\/systemd|etc\/init\.d|etc\/logrotate\.d)(\/|$)/;

/** The flavour's start-up script /init sources (images/init.sh, "flavour" block). */
export const FLAVOUR_INIT = "etc/cocos/flavour.sh";
/** Where full-init.sh starts Podman's API service (the agent's DOCKER_HOST). */
export const PODMAN_SOCKET = "/run/podman/podman.sock";

/**
 * Podman's configuration for a guest without systemd or network: cgroupfs, file events, crun,
 * vfs storage (no kernel module needed) in the guest's memory, no network stack for containers
 * (the runner asks for NetworkMode none; netavark and CNI are not in the image).
 */
export const PODMAN_CONFIG: Readonly<Record<string, string>> = {
  "etc/containers/storage.conf": `[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
`,
  "etc/containers/containers.conf": `[containers]
netns = "none"
log_driver = "k8s-file"
cgroupns = "private"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
`,
  "etc/containers/registries.conf": "unqualified-search-registries = []\n",
};

export interface FlavourFiles {
  entries: CpioEntry[];
  /** package → .deb file name, for image.json */
  packages: Record<string, string>;
}

function isElf(data: Uint8Array): boolean {
  return data.length > 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46;
}

/** Every file, symlink and directory of an unpacked package, as cpio entries (modes kept, owners dropped). */
export function packageEntries(dir: string): CpioEntry[] {
  const entries: CpioEntry[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      if (name === ".extracted" && !rel) continue;
      if (SKIPPED.test(path)) continue;
      const st = lstatSync(join(dir, path));
      if (st.isSymbolicLink()) entries.push({ path, type: "symlink", target: readlinkSync(join(dir, path)) });
      else if (st.isDirectory()) {
        entries.push({ path, type: "dir", mode: st.mode & 0o7777 });
        walk(path);
      } else if (st.isFile()) entries.push({ path, type: "file", data: new Uint8Array(readFileSync(join(dir, path))), mode: st.mode & 0o7777 });
      else throw new Error(`${path} in ${dir}: expected a file, directory or symlink in a package`);
    }
  };
  walk("");
  return entries;
}

/**
 * The full flavour's entries on top of `base` (the minimal image's): the packages, the libraries
 * they need that base lacks, and Podman's configuration. A path both define is an error unless both
 * are directories (the packages must not silently replace a file of the minimal image).
 */
export function fullFiles(cache: string, offline: boolean, base: readonly CpioEntry[]): FlavourFiles {
  const { root, packages } = packageRoots(cache, offline);
  const taken = new Map(base.map((e) => [e.path, e.type]));
  const entries: CpioEntry[] = [];
  const add = (e: CpioEntry, from: string) => {
    const had = taken.get(e.path);
    if (had === "dir" && e.type === "dir") return;
    if (had) throw new Error(`full flavour: ${from} has ${e.path}, which the image already has (a ${had})`);
    taken.set(e.path, e.type);
    entries.push(e);
  };
  const needed: string[] = [];
  for (const pkg of FULL_PACKAGES) {
    for (const e of packageEntries(root(pkg))) {
      add(e, pkg);
      if (e.type === "file" && isElf(e.data)) needed.push(...elfNeeded(e.data));
    }
  }
  const have = new Set(base.filter((e) => e.path.startsWith("lib/x86_64-linux-gnu/") || e.path.startsWith("bin/onnxruntime/")).map((e) => e.path.split("/").pop()!));
  const libs = libraryEntries(root, [...new Set(needed)].sort(), have, FULL_LIBRARY_PACKAGES, "FULL_LIBRARY_PACKAGES (images/flavours/full.ts)");
  for (const e of libs) add(e, "the library table");
  const enc = new TextEncoder();
  // Podman's temporary files (an image being loaded) and its storage.
  for (const path of ["var/tmp", "var/lib/containers"]) add({ path, type: "dir", mode: path === "var/tmp" ? 0o1777 : 0o700 }, "the image builder");
  for (const [path, text] of Object.entries(PODMAN_CONFIG)) add({ path, type: "file", data: enc.encode(text) }, "PODMAN_CONFIG");
  // /init sources this just before it starts the agent (images/init.sh, "flavour" block).
  add({ path: FLAVOUR_INIT, type: "file", data: new Uint8Array(readFileSync(join(import.meta.dir, "full-init.sh"))), mode: 0o644 }, "full-init.sh");
  return { entries, packages };
}
