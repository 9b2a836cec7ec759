// SEV-SNP and TDX evidence through the kernel's configfs-tsm interface (Linux ≥ 6.7):
// /sys/kernel/config/tsm/report/<entry>/{inblob,outblob,auxblob,provider,generation,privlevel}.
// One entry per provider instance, created on first use and reused; requests are serialized and a
// generation change between our inblob write and outblob read (another writer) triggers a retry.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { padReportData, type Evidence, type EvidenceProvider, type ProviderKind } from "./types.ts";

export const CONFIGFS_TSM_ROOT = "/sys/kernel/config/tsm/report";

export interface ConfigfsOptions {
  root?: string;
  entryName?: string;
  /** SNP only: VMPL written to `privlevel` (the report's VMPL). */
  privlevel?: number;
}

const KIND_BY_PROVIDER: Record<string, ProviderKind> = { sev_guest: "snp", tdx_guest: "tdx" };

export class ConfigfsTsmProvider implements EvidenceProvider {
  readonly kind: ProviderKind;
  readonly dir: string;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ConfigfsOptions = {}) {
    const root = opts.root ?? CONFIGFS_TSM_ROOT;
    this.dir = join(root, opts.entryName ?? `cocos-${process.pid}`);
    mkdirSync(this.dir, { recursive: true }); // configfs populates the attributes on mkdir
    const provider = this.read("provider").toString("utf8").trim();
    const kind = KIND_BY_PROVIDER[provider];
    if (!kind) throw new Error(`configfs-tsm: expected provider sev_guest or tdx_guest in ${this.dir}/provider, got "${provider}"`);
    this.kind = kind;
  }

  private read(attr: string): Buffer {
    return readFileSync(join(this.dir, attr));
  }

  private generation(): number {
    return Number(this.read("generation").toString("utf8").trim());
  }

  getEvidence(reportData: Uint8Array): Promise<Evidence> {
    const run = this.chain.then(() => this.once(padReportData(reportData)));
    this.chain = run.catch(() => {});
    return run;
  }

  private once(data: Uint8Array, attempt = 0): Evidence {
    if (this.opts.privlevel !== undefined && this.kind === "snp") writeFileSync(join(this.dir, "privlevel"), String(this.opts.privlevel));
    writeFileSync(join(this.dir, "inblob"), data);
    const g = this.generation();
    const out = this.read("outblob");
    const aux = this.kind === "snp" && existsSync(join(this.dir, "auxblob")) ? this.read("auxblob") : Buffer.alloc(0);
    if (this.generation() !== g) {
      if (attempt < 3) return this.once(data, attempt + 1);
      throw new Error(`configfs-tsm: ${this.dir} kept changing under us (generation moved during the read)`);
    }
    if (out.length === 0) throw new Error(`configfs-tsm: ${this.dir}/outblob is empty`);
    const evidence = new Uint8Array(out.length + aux.length);
    evidence.set(out);
    evidence.set(aux, out.length);
    return { kind: this.kind, data: evidence, source: `configfs-tsm:${this.kind === "snp" ? "sev_guest" : "tdx_guest"}`, simulated: false };
  }
}
