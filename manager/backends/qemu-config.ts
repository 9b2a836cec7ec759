// QEMU backend configuration (MANAGER_QEMU_*, names and defaults of Cocos v0.4.0 where they exist,
// cocos-manager.md §2.1) and the command-line builder (§2.2 order). Pure functions: tested as argv.
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parsePortRange } from "../ports.ts";

export type Accel = "kvm" | "tcg";
export type ChannelMode = "virtio-serial" | "vsock";
/** none = direct kernel boot through QEMU's own loader (PVH vmlinux, fastest); ovmf = pflash UEFI. */
export type Firmware = "none" | "ovmf";
/** Guest image flavour (images/flavours/): minimal = Wasm and static binaries; full = also Python 3
 *  and Podman for `python` and `docker` algorithms. Each is its own initramfs with its own measurement. */
export type ImageFlavour = "minimal" | "full";
/** What a flavour boots: its initramfs, agent disk ("" = none) and kernel command line. */
export type FlavourBoot = Pick<QemuConfig, "initrdFile" | "agentDiskFile" | "kernelCmdline">;

/** The flavour an algorithm type needs: python and docker only run in the full one. */
export function flavourFor(algoType: string | undefined): ImageFlavour {
  return algoType === "python" || algoType === "docker" ? "full" : "minimal";
}
export const IMAGE_FLAVOURS: readonly ImageFlavour[] = ["minimal", "full"];
/** Each flavour's initramfs in the image folder (images/flavours/index.ts initrdName writes the same). */
export const FLAVOUR_INITRD: Readonly<Record<ImageFlavour, string>> = { minimal: "initramfs.cpio", full: "initramfs-full.cpio" };

export interface QemuConfig {
  binPath: string;
  useSudo: boolean;
  enableSev: boolean;
  enableSevSnp: boolean;
  /** Resolved accelerator (MANAGER_QEMU_ENABLE_KVM=true|false|auto). */
  accel: Accel;
  machine: string;
  cpu: string;
  smpCount: number;
  smpMaxCpus: number;
  memId: string;
  memorySize: string;
  memorySlots: number;
  maxMemory: string;
  kernelHash: boolean;
  firmware: Firmware;
  /** -bios for a direct kernel boot (firmware "none"): qboot when installed, else QEMU's SeaBIOS (""). */
  bios: string;
  ovmfCode: { if: string; format: string; unit: number; file: string; readonly: string };
  ovmfVars: { if: string; format: string; unit: number; file: string };
  netdevId: string;
  guestFwdAgent: number;
  /** Guest port of the agent's HTTP /health + /metrics (AGENT_HTTP_PORT); 0 = not forwarded. */
  guestFwdHttp: number;
  /** Host address hostfwd binds (empty = every interface, as the original). */
  hostFwdHost: string;
  hostFwdRange: [number, number];
  virtioNet: { disableLegacy: string; iommuPlatform: string; addr: string; romfile: string };
  kernelFile: string;
  /** MANAGER_QEMU_IMAGE_FLAVOUR: which flavour's initramfs initrdFile defaults to. */
  imageFlavour: ImageFlavour;
  /** True when MANAGER_QEMU_IMAGE_FLAVOUR is unset: each VM boots the flavour its algorithm type needs. */
  flavourFromAlgoType: boolean;
  initrdFile: string;
  /** Read-only virtio disk holding the agent under dm-verity (images/agent-disk.ts); "" = none. */
  agentDiskFile: string;
  kernelCmdline: string;
  /** Every flavour's boot files (initrdFile, agentDiskFile, kernelCmdline are imageFlavour's). */
  images: Record<ImageFlavour, FlavourBoot>;
  sevId: string;
  sevCbitPos: number;
  sevReducedPhysBits: number;
  hostData: string;
  channel: ChannelMode;
  vsockId: string;
  vsockGuestCid: number;
  noGraphic: boolean;
  monitor: string;
}

/** Fallback when image.json has none; images/build.ts writes the same (its BOOT_CMDLINE). */
export const DEFAULT_CMDLINE =
  "console=ttyS0 quiet panic=-1 tsc=reliable no_timer_check noreplace-smp cryptomgr.notests random.trust_cpu=on i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd initcall_blacklist=init_blk_tracer";

/** Default vCPUs under TCG (each one a host thread; see bench/boot.ts for the measurement). */
export const TCG_SMP = 2;

/** qboot boots a PVH kernel in a fraction of SeaBIOS's time under TCG (no option-ROM scan, no boot menu). */
export const QBOOT_PATHS = ["/usr/share/qemu/qboot.rom", "/usr/share/qboot/bios.bin"];
const findQboot = () => QBOOT_PATHS.find((p) => existsSync(p));

type Env = Record<string, string | undefined>;

function bool(env: Env, name: string, dflt: boolean): boolean {
  const v = env[name];
  if (v === undefined || v === "") return dflt;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new Error(`${name}: expected true or false, got ${JSON.stringify(v)}`);
}

function int(env: Env, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

function str(env: Env, name: string, dflt: string): string {
  const v = env[name];
  return v === undefined || v === "" ? dflt : v;
}

/** KVM only helps when the host CPU exposes vmx/svm; /dev/kvm alone is not enough (toolchain-notes §4). */
export function kvmUsable(cpuinfo = safeRead("/proc/cpuinfo"), devKvm = "/dev/kvm"): boolean {
  return existsSync(devKvm) && /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo);
}

function safeRead(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
}

/** What image.json next to the kernel says to boot (its default layout, images/build.ts): the base
 *  command line and the initrd and agent disk its measurement covers, paths resolved beside it. */
function imageDefaults(kernelFile: string, flavour: ImageFlavour = "minimal"): { cmdline?: string; initrd?: string; disk?: string } {
  const dir = dirname(kernelFile);
  type Inputs = { initrd?: unknown; disk?: unknown; cmdline?: unknown };
  let img: { cmdline?: unknown; measurement_inputs?: Inputs; flavours?: Record<string, { measurement_inputs?: Inputs } | undefined> };
  try {
    img = JSON.parse(readFileSync(join(dir, "image.json"), "utf8"));
  } catch {
    return {};
  }
  const text = (v: unknown) => (typeof v === "string" && v ? v : undefined);
  const file = (v: unknown) => (text(v) ? resolve(dir, v as string) : undefined);
  // The top level describes the minimal flavour (in its layout); another flavour has its own inputs.
  const inputs = flavour === "minimal" ? img.measurement_inputs : img.flavours?.[flavour]?.measurement_inputs;
  if (!inputs) return {};
  return { cmdline: text(inputs.cmdline) ?? text(img.cmdline), initrd: file(inputs.initrd), disk: file(inputs.disk) };
}

export interface Probes {
  kvm: () => boolean;
  vhostVsock: () => boolean;
  /** Path of qboot, if installed (absent: none). */
  qboot?: () => string | undefined;
}

export function loadQemuConfig(env: Env = process.env, cwd = process.cwd(), probe: Probes = { kvm: kvmUsable, vhostVsock: () => existsSync("/dev/vhost-vsock"), qboot: findQboot }): QemuConfig {
  const kvm = str(env, "MANAGER_QEMU_ENABLE_KVM", "auto");
  let accel: Accel;
  if (kvm === "auto") accel = probe.kvm() ? "kvm" : "tcg";
  else accel = bool(env, "MANAGER_QEMU_ENABLE_KVM", true) ? "kvm" : "tcg";
  const enableSevSnp = bool(env, "MANAGER_QEMU_ENABLE_SEV_SNP", false);
  const enableSev = bool(env, "MANAGER_QEMU_ENABLE_SEV", false);
  const firmwareText = str(env, "MANAGER_QEMU_FIRMWARE", "none");
  if (firmwareText !== "none" && firmwareText !== "ovmf") throw new Error(`MANAGER_QEMU_FIRMWARE: expected none or ovmf, got ${JSON.stringify(firmwareText)}`);
  // OVMF (SEV, SNP, or asked for) loads the kernel through its EFI stub, i.e. the bzImage.
  const viaOvmf = enableSev || enableSevSnp || firmwareText === "ovmf";
  const kernelFile = resolve(cwd, str(env, "MANAGER_QEMU_DISK_IMG_KERNEL_FILE", viaOvmf ? "images/out/bzImage" : "images/out/vmlinux"));
  // Under TCG every vCPU is a host thread: more vCPUs than host cores, or 64 hot-pluggable ones,
  // only slow the boot (measured: 4 vCPUs on 2 cores boot about 2x slower than 2).
  const smpCount = int(env, "MANAGER_QEMU_SMP_COUNT", accel === "kvm" ? 4 : Math.min(TCG_SMP, availableParallelism()));
  // MANAGER_QEMU_BIOS: auto (qboot when installed), seabios (QEMU's default), or a firmware file.
  const biosText = str(env, "MANAGER_QEMU_BIOS", "auto");
  const channelText = str(env, "MANAGER_QEMU_CHANNEL", "auto");
  // MANAGER_QEMU_IMAGE_FLAVOUR fixes one flavour for every VM (else QemuBackend.configFor picks it
  // from the run request's algorithm type); an explicit MANAGER_QEMU_DISK_IMG_ROOTFS_FILE still wins.
  const imageFlavour = str(env, "MANAGER_QEMU_IMAGE_FLAVOUR", "minimal") as ImageFlavour;
  if (!IMAGE_FLAVOURS.includes(imageFlavour)) throw new Error(`MANAGER_QEMU_IMAGE_FLAVOUR: expected ${IMAGE_FLAVOURS.join(" or ")}, got ${JSON.stringify(imageFlavour)}`);
  // Each flavour's files as image.json beside the kernel describes them; explicit settings win.
  const bootOf = (flavour: ImageFlavour): FlavourBoot => {
    const image = imageDefaults(kernelFile, flavour);
    // MANAGER_QEMU_DISK_IMG_AGENT_FILE: the agent disk, default image.json's; "none" boots without one.
    const diskText = str(env, "MANAGER_QEMU_DISK_IMG_AGENT_FILE", image.disk ?? "none");
    return {
      initrdFile: resolve(cwd, str(env, "MANAGER_QEMU_DISK_IMG_ROOTFS_FILE", image.initrd ?? join(dirname(kernelFile), FLAVOUR_INITRD[flavour]))),
      agentDiskFile: diskText === "none" ? "" : resolve(cwd, diskText),
      kernelCmdline: str(env, "MANAGER_QEMU_KERNEL_CMDLINE", image.cmdline ?? DEFAULT_CMDLINE),
    };
  };
  const images = { minimal: bootOf("minimal"), full: bootOf("full") };
  // An explicit initramfs is one image for every VM; otherwise the algorithm type picks, unless told.
  const flavourFromAlgoType = env.MANAGER_QEMU_IMAGE_FLAVOUR === undefined && env.MANAGER_QEMU_DISK_IMG_ROOTFS_FILE === undefined;
  let channel: ChannelMode;
  if (channelText === "auto") channel = probe.vhostVsock() ? "vsock" : "virtio-serial";
  else if (channelText === "vsock" || channelText === "virtio-serial") channel = channelText;
  else throw new Error(`MANAGER_QEMU_CHANNEL: expected auto, virtio-serial or vsock, got ${JSON.stringify(channelText)}`);
  return {
    binPath: str(env, "MANAGER_QEMU_BIN_PATH", "qemu-system-x86_64"),
    useSudo: bool(env, "MANAGER_QEMU_USE_SUDO", false),
    enableSev,
    enableSevSnp,
    accel,
    machine: str(env, "MANAGER_QEMU_MACHINE", "q35"),
    // The original's EPYC model; TCG needs `max` (Bun needs AVX2, qemu64 gives SIGILL).
    cpu: str(env, "MANAGER_QEMU_CPU", accel === "kvm" ? "EPYC" : "max"),
    smpCount,
    smpMaxCpus: int(env, "MANAGER_QEMU_SMP_MAXCPUS", accel === "kvm" ? 64 : smpCount),
    memId: str(env, "MANAGER_QEMU_MEM_ID", "ram1"),
    memorySize: str(env, "MANAGER_QEMU_MEMORY_SIZE", "2048M"),
    memorySlots: int(env, "MANAGER_QEMU_MEMORY_SLOTS", 5),
    maxMemory: str(env, "MANAGER_QEMU_MAX_MEMORY", "30G"),
    kernelHash: bool(env, "MANAGER_QEMU_KERNEL_HASH", false),
    firmware: viaOvmf ? "ovmf" : "none",
    bios: viaOvmf ? "" : biosText === "auto" ? (probe.qboot?.() ?? "") : biosText === "seabios" ? "" : resolve(cwd, biosText),
    ovmfCode: {
      if: str(env, "MANAGER_QEMU_OVMF_CODE_IF", "pflash"),
      format: str(env, "MANAGER_QEMU_OVMF_CODE_FORMAT", "raw"),
      unit: int(env, "MANAGER_QEMU_OVMF_CODE_UNIT", 0),
      file: str(env, "MANAGER_QEMU_OVMF_CODE_FILE", "/usr/share/OVMF/OVMF_CODE.fd"),
      readonly: str(env, "MANAGER_QEMU_OVMF_CODE_READONLY", "on"),
    },
    ovmfVars: {
      if: str(env, "MANAGER_QEMU_OVMF_VARS_IF", "pflash"),
      format: str(env, "MANAGER_QEMU_OVMF_VARS_FORMAT", "raw"),
      unit: int(env, "MANAGER_QEMU_OVMF_VARS_UNIT", 1),
      file: str(env, "MANAGER_QEMU_OVMF_VARS_FILE", "/usr/share/OVMF/OVMF_VARS.fd"),
    },
    netdevId: str(env, "MANAGER_QEMU_NETDEV_ID", "vmnic"),
    guestFwdAgent: int(env, "MANAGER_QEMU_GUEST_FWD_AGENT", 7002),
    guestFwdHttp: int(env, "MANAGER_QEMU_GUEST_FWD_HTTP", 0),
    hostFwdHost: env.MANAGER_QEMU_HOST_FWD_HOST ?? "127.0.0.1",
    hostFwdRange: parsePortRange(str(env, "MANAGER_QEMU_HOST_FWD_RANGE", "6100-6200")),
    virtioNet: {
      disableLegacy: str(env, "MANAGER_QEMU_VIRTIO_NET_PCI_DISABLE_LEGACY", "on"),
      iommuPlatform: str(env, "MANAGER_QEMU_VIRTIO_NET_PCI_IOMMU_PLATFORM", "true"),
      addr: str(env, "MANAGER_QEMU_VIRTIO_NET_PCI_ADDR", "0x2"),
      romfile: env.MANAGER_QEMU_VIRTIO_NET_PCI_ROMFILE ?? "",
    },
    kernelFile,
    imageFlavour,
    flavourFromAlgoType,
    ...images[imageFlavour],
    images,
    sevId: str(env, "MANAGER_QEMU_SEV_ID", "sev0"),
    sevCbitPos: int(env, "MANAGER_QEMU_SEV_CBITPOS", 51),
    sevReducedPhysBits: int(env, "MANAGER_QEMU_SEV_REDUCED_PHYS_BITS", 1),
    hostData: str(env, "MANAGER_QEMU_HOST_DATA", ""),
    channel,
    vsockId: str(env, "MANAGER_QEMU_VSOCK_ID", "vhost-vsock-pci0"),
    vsockGuestCid: int(env, "MANAGER_QEMU_VSOCK_GUEST_CID", 3),
    noGraphic: bool(env, "MANAGER_QEMU_NO_GRAPHIC", true),
    // The original defaults to `pty`: an unauthenticated control console for any local user who
    // opens the pty, and a "char device redirected" line on stderr (→ a Warning event) per boot.
    // The backend talks to QEMU over its per-VM QMP socket instead; set `pty` to get it back.
    monitor: str(env, "MANAGER_QEMU_MONITOR", "none"),
  };
}

/** What differs between two VMs of one manager. */
export interface VmLaunch {
  /** Suffix for netdev/SEV ids (the original appends a UUID). */
  uuid: string;
  hostPort: number;
  /** Host port forwarded to the agent's HTTP port (when guestFwdHttp is set). */
  httpHostPort?: number;
  cmdline: string;
  serialLog: string;
  qmpSocket: string;
  /** virtio-serial: Unix sockets QEMU listens on; vsock: the guest CID. */
  sockets?: { manifest: string; events: string };
  guestCid?: number;
  /** base64 of the 32-byte manifest hash (SNP HOST_DATA). */
  hostDataB64?: string;
  /** Per-VM copy of OVMF_VARS (non-SNP OVMF boot). */
  ovmfVarsCopy?: string;
}

/** Guest ports of the original's vsock channels (manifest 9999, events 9997). */
export const VSOCK_PORTS = { manifest: 9999, events: 9997 } as const;
/** virtio-serial port names the guest's /init links under /dev/virtio-ports/. */
export const SERIAL_PORTS = { manifest: "cocos.manifest", events: "cocos.events" } as const;

/** The argv after the executable (sudo prepends the QEMU path). Order follows the original. */
export function buildQemuArgs(c: QemuConfig, vm: VmLaunch): string[] {
  const a: string[] = [];
  const sevId = `${c.sevId}-${vm.uuid}`;
  const netdev = `${c.netdevId}-${vm.uuid}`;
  const confidential = c.enableSev || c.enableSevSnp;
  a.push("-accel", c.accel);
  if (c.machine) a.push("-machine", c.machine);
  if (c.cpu) a.push("-cpu", c.cpu);
  a.push("-smp", `${c.smpCount},maxcpus=${Math.max(c.smpMaxCpus, c.smpCount)}`);
  a.push("-m", `${c.memorySize},slots=${c.memorySlots},maxmem=${c.maxMemory}`);
  if (c.firmware === "none" && c.bios) a.push("-bios", c.bios);
  if (c.firmware === "ovmf" && !c.enableSevSnp) {
    const o = c.ovmfCode;
    a.push("-drive", `if=${o.if},format=${o.format},unit=${o.unit},file=${o.file},readonly=${o.readonly}`);
    const v = c.ovmfVars;
    a.push("-drive", `if=${v.if},format=${v.format},unit=${v.unit},file=${vm.ovmfVarsCopy ?? v.file}`);
  }
  let net = `user,id=${netdev},hostfwd=tcp:${c.hostFwdHost}:${vm.hostPort}-:${c.guestFwdAgent}`;
  if (c.guestFwdHttp && vm.httpHostPort) net += `,hostfwd=tcp:${c.hostFwdHost}:${vm.httpHostPort}-:${c.guestFwdHttp}`;
  a.push("-netdev", net);
  const n = c.virtioNet;
  a.push("-device", `virtio-net-pci,disable-legacy=${n.disableLegacy},iommu_platform=${n.iommuPlatform},netdev=${netdev},addr=${n.addr},romfile=${n.romfile}`);
  if (c.channel === "vsock") {
    if (vm.guestCid === undefined) throw new Error("qemu args: vsock channel needs a guest CID");
    a.push("-device", `vhost-vsock-pci,id=${c.vsockId},guest-cid=${vm.guestCid}`);
  } else {
    if (!vm.sockets) throw new Error("qemu args: virtio-serial channel needs socket paths");
    a.push("-device", "virtio-serial-pci,id=cocos-serial");
    for (const k of ["manifest", "events"] as const) {
      a.push("-chardev", `socket,id=ch-${k},path=${vm.sockets[k]},server=on,wait=off`);
      a.push("-device", `virtserialport,bus=cocos-serial.0,chardev=ch-${k},name=${SERIAL_PORTS[k]}`);
    }
  }
  if (confidential) {
    a.push("-machine", `confidential-guest-support=${sevId},memory-backend=${c.memId}`);
    if (c.enableSevSnp) a.push("-bios", c.ovmfCode.file);
    a.push("-object", `memory-backend-memfd,id=${c.memId},size=${c.memorySize},share=true,prealloc=false`);
    let obj = `${c.enableSevSnp ? "sev-snp-guest" : "sev-guest"},id=${sevId},cbitpos=${c.sevCbitPos},reduced-phys-bits=${c.sevReducedPhysBits}`;
    if (c.kernelHash) obj += ",kernel-hashes=on";
    const hostData = vm.hostDataB64 ?? c.hostData;
    if (c.enableSevSnp && hostData) obj += `,host-data=${hostData}`;
    a.push("-object", obj);
  }
  // The command line is passed unquoted (HEAD); v0.4.0 wrapped it in literal quotes.
  a.push("-kernel", c.kernelFile, "-append", vm.cmdline, "-initrd", c.initrdFile);
  // The agent disk: read-only to the guest and to QEMU; the guest checks every block (dm-verity).
  if (c.agentDiskFile) a.push("-drive", `file=${c.agentDiskFile.replaceAll(",", ",,")},if=virtio,format=raw,readonly=on`);
  if (c.noGraphic) a.push("-nographic");
  a.push("-serial", `file:${vm.serialLog}`);
  if (c.monitor) a.push("-monitor", c.monitor);
  // QMP tells us when the machine is really up and gives a clean way to talk to it after a restart.
  a.push("-qmp", `unix:${vm.qmpSocket},server=on,wait=off`);
  // Guest reboot or panic (panic=-1) ends QEMU instead of looping.
  a.push("-no-reboot");
  return a;
}

/** AGENT_FOO_BAR=v → cocos.foo_bar=v (the guest's /init maps it back). */
export function agentEnvToCmdline(env: Record<string, string>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const m = /^AGENT_([A-Z0-9_]+)$/.exec(k);
    if (!m) throw new Error(`agent setting ${JSON.stringify(k)}: expected a name AGENT_[A-Z0-9_]+ (it travels on the kernel command line)`);
    if (!/^[\x21-\x7e]*$/.test(v) || v.includes('"'))
      throw new Error(`agent setting ${k}: value must be printable ASCII without spaces or quotes to travel on the kernel command line, got ${JSON.stringify(v)}`);
    parts.push(`cocos.${m[1]!.toLowerCase()}=${v}`);
  }
  return parts.join(" ");
}

/** x86's COMMAND_LINE_SIZE is 2048 with the terminating NUL: a longer line is cut, the tail (our settings) lost. */
export const KERNEL_CMDLINE_MAX = 2047;
/** Linux MAX_ARG_STRLEN (32 pages): execve refuses a longer single argument. */
export const ARG_MAX_LEN = 131_072 - 1;

/** Throws when the guest kernel would not see the whole command line. */
export function checkKernelCmdline(cmdline: string): void {
  const n = Buffer.byteLength(cmdline);
  if (n > KERNEL_CMDLINE_MAX)
    throw new Error(`guest kernel command line is ${n} bytes, expected at most ${KERNEL_CMDLINE_MAX} (x86 cuts the rest, and with it the agent's settings); shorten MANAGER_QEMU_KERNEL_CMDLINE or the agent settings`);
}

/** Throws when an argument is longer than execve takes. */
export function checkArgv(argv: string[]): void {
  for (const a of argv) {
    const n = Buffer.byteLength(a);
    if (n > ARG_MAX_LEN) throw new Error(`QEMU argument of ${n} bytes, expected at most ${ARG_MAX_LEN}: ${JSON.stringify(a.slice(0, 60))}…`);
  }
}
