// wasi:filesystem — the preopens of one run as sandboxed descriptors (descriptor.ts), and the
// types/preopens interfaces WASIShim takes for an application-provided filesystem.
// preview2-shim's own filesystem has no read-only preopens and no write accounting.

import { realpathSync, statSync } from "node:fs";
import { Descriptor, DirectoryEntryStream, type FsState } from "./descriptor.ts";
import { FileInputStream, FileOutputStream, type FsHooks } from "./file-streams.ts";
import { code, type ErrorCode } from "./fs-errors.ts";
import type { Root } from "./paths.ts";
import { traceMethods, tracing } from "./trace.ts";

export type { FsHooks } from "./file-streams.ts";

export interface PreopenSpec {
  /** Name the guest sees, e.g. "/datasets" or ".". */
  guestPath: string;
  hostPath: string;
  readOnly: boolean;
}

let traced = false;

export function createSandboxFilesystem(preopens: PreopenSpec[], hooks: FsHooks) {
  if (tracing() && !traced) {
    traced = true;
    for (const cls of [Descriptor, FileInputStream, FileOutputStream, DirectoryEntryStream]) {
      traceMethods(cls.prototype as unknown as Record<string, unknown>);
    }
  }
  const state: FsState = { hooks, openFiles: 0 };
  const entries: [Descriptor, string][] = preopens.map((p) => {
    let real: string;
    try {
      real = realpathSync(p.hostPath);
    } catch (e) {
      throw new Error(`preopen ${p.guestPath}: host directory ${p.hostPath} is not accessible (${code(e)})`);
    }
    if (!statSync(real).isDirectory()) {
      throw new Error(`preopen ${p.guestPath}: expected a directory, got a file at ${p.hostPath}`);
    }
    const root: Root = { real, readOnly: p.readOnly };
    return [new Descriptor(state, root, real, null, { read: true, mutateDirectory: !p.readOnly }, true), p.guestPath];
  });

  return {
    types: {
      Descriptor,
      DirectoryEntryStream,
      filesystemErrorCode(err: { payload?: unknown }): ErrorCode | undefined {
        return typeof err?.payload === "string" ? err.payload : undefined;
      },
    },
    preopens: {
      getDirectories: () => [...entries],
    },
  };
}
