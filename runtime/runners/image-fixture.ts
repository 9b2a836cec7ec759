// Builds a real `docker save`-format image tarball offline: one layer holding busybox-static and
// its applet links, plus any files given, with the config's CMD/ENTRYPOINT. Used by tests and
// benchmarks of the docker runner (no registry, no docker CLI).
import { readFileSync } from "node:fs";
import { writeTar, type TarInput } from "./tar.ts";

export const BUSYBOX = "/bin/busybox";
const APPLETS = ["sh", "cat", "echo", "env", "head", "ls", "sleep", "yes", "printf", "dd", "true", "false", "wc", "tr", "mkdir", "rm", "id", "kill"];

export interface ImageSpec {
  /** Repository tag, e.g. "cocos-test/addition:latest". */
  tag: string;
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  /** Extra files (path without leading slash → content); made executable. */
  files?: Record<string, string>;
}

const sha256 = (data: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(data).digest("hex");

/** The image tarball's bytes. Needs busybox-static at /bin/busybox. */
export function buildImageTar(spec: ImageSpec): Uint8Array {
  const rootfs: TarInput[] = [
    { name: "bin", type: "dir" },
    { name: "bin/busybox", type: "file", data: readFileSync(BUSYBOX), mode: 0o755 },
    ...APPLETS.map((name): TarInput => ({ name: `bin/${name}`, type: "symlink", target: "busybox" })),
    { name: "cocos", type: "dir" },
    { name: "cocos/datasets", type: "dir" },
    { name: "cocos/results", type: "dir" },
    { name: "tmp", type: "dir", mode: 0o1777 },
    ...Object.entries(spec.files ?? {}).map(([name, data]): TarInput => ({ name, type: "file", data, mode: 0o755 })),
  ];
  const layer = writeTar(rootfs);
  const diffId = sha256(layer);
  const config = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    created: "1970-01-01T00:00:00Z",
    config: {
      Env: spec.env ?? ["PATH=/bin"],
      Cmd: spec.cmd ?? null,
      Entrypoint: spec.entrypoint ?? null,
      WorkingDir: "/cocos",
    },
    rootfs: { type: "layers", diff_ids: [`sha256:${diffId}`] },
    history: [{ created: "1970-01-01T00:00:00Z", created_by: "cocos image fixture" }],
  });
  const configName = `${sha256(config)}.json`;
  const manifest = JSON.stringify([{ Config: configName, RepoTags: [spec.tag], Layers: [`${diffId}/layer.tar`] }]);
  return writeTar([
    { name: diffId, type: "dir" },
    { name: `${diffId}/layer.tar`, type: "file", data: layer },
    { name: configName, type: "file", data: config },
    { name: "manifest.json", type: "file", data: manifest },
  ]);
}
