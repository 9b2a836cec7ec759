// The state directory: one <vm id>.json per VM, written atomically (temp file + rename), so a
// manager restarted at any moment finds either the old or the new record, never half of one.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { VmInfo } from "./backend.ts";

export class StateStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private file(id: string): string {
    if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new Error(`state: VM id must be [A-Za-z0-9._-]+, got ${JSON.stringify(id)}`);
    return join(this.dir, `${id}.json`);
  }

  save(info: VmInfo): void {
    const path = this.file(info.id);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(info, null, 2) + "\n");
    renameSync(tmp, path);
  }

  remove(id: string): void {
    rmSync(this.file(id), { force: true });
  }

  /** Every readable record; unreadable files are reported, not fatal. */
  load(onBad: (file: string, err: Error) => void = () => {}): VmInfo[] {
    const out: VmInfo[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith(".json")) continue;
      try {
        const v = JSON.parse(readFileSync(join(this.dir, name), "utf8")) as VmInfo;
        if (typeof v.id !== "string" || typeof v.pid !== "number" || typeof v.backend !== "string") {
          throw new Error("expected an object with string id, string backend and numeric pid");
        }
        out.push(v);
      } catch (e) {
        onBad(name, e as Error);
      }
    }
    return out;
  }
}
