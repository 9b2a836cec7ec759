// The seccomp filter of sandboxed native algorithms, as a classic-BPF program for `bwrap --seccomp FD`.
// Written here rather than with libseccomp: no maintained npm package produces seccomp BPF, a native
// helper would need a compiler in the guest image, and the program is a few dozen instructions whose
// layout (struct sock_filter, struct seccomp_data) is fixed kernel ABI.
//
// Policy: a deny list on top of the sandbox's namespaces and dropped capabilities. Anything that
// reaches another process's memory, the kernel's configuration, new namespaces, or a large kernel
// attack surface (bpf, io_uring, userfaultfd, perf) is refused with EPERM; clone3 gets ENOSYS so
// libc falls back to clone, whose flags can be checked (clone3 passes them in memory, out of reach).
// Only x86_64 system calls pass: another architecture's entry (int 0x80) kills the process, and the
// x32 ABI (nr | 0x40000000) is refused.

/** AUDIT_ARCH_X86_64 = EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const X32_SYSCALL_BIT = 0x40000000;
export const EPERM = 1;
export const ENOSYS = 38;

// seccomp return actions (linux/seccomp.h).
export const RET_KILL_PROCESS = 0x80000000;
export const RET_ERRNO = 0x00050000;
export const RET_ALLOW = 0x7fff0000;

/** CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET,TIME}: creating any namespace is refused. */
export const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

/** x86_64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl) refused outright. */
export const DENIED_SYSCALLS: Readonly<Record<string, number>> = {
  ptrace: 101,
  process_vm_readv: 310,
  process_vm_writev: 311,
  mount: 165,
  umount2: 166,
  pivot_root: 155,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
  bpf: 321,
  keyctl: 250,
  add_key: 248,
  request_key: 249,
  setns: 308,
  perf_event_open: 298,
  kexec_load: 246,
  kexec_file_load: 320,
  init_module: 175,
  finit_module: 313,
  delete_module: 176,
  reboot: 169,
  swapon: 167,
  swapoff: 168,
  userfaultfd: 323,
  open_by_handle_at: 304,
  name_to_handle_at: 303,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  acct: 163,
  quotactl: 179,
};
export const SYS_CLONE = 56;
export const SYS_UNSHARE = 272;
export const SYS_CLONE3 = 435;
export const SYS_PERSONALITY = 135;
/** personality(0xffffffff) only queries; PER_LINUX (0) is the default. Every other persona is refused. */
const PERSONALITY_QUERY = 0xffffffff;
const PER_LINUX = 0;

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

// struct seccomp_data offsets: nr, arch, instruction_pointer, args[6] (u64, low word first on LE).
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG0 = 16;

export interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A jump target: the next instruction (0 = fall through) or a named label. */
type Target = string | 0;
type Step = { op: "ins"; code: number; k: number; jt?: Target; jf?: Target } | { op: "label"; name: string };

const ld = (offset: number): Step => ({ op: "ins", code: LD_W_ABS, k: offset });
const ret = (k: number): Step => ({ op: "ins", code: RET_K, k });
const jump = (code: number, k: number, jt: Target, jf: Target = 0): Step => ({ op: "ins", code, k, jt, jf });
const label = (name: string): Step => ({ op: "label", name });

/** Resolves labels to the forward offsets classic BPF jumps take (u8: at most 255 ahead). */
function assemble(steps: Step[]): Instruction[] {
  const at = new Map<string, number>();
  let n = 0;
  for (const s of steps) {
    if (s.op === "label") at.set(s.name, n);
    else n++;
  }
  const out: Instruction[] = [];
  for (const s of steps) {
    if (s.op === "label") continue;
    const here = out.length;
    const offset = (t: Target | undefined) => {
      if (!t) return 0;
      const to = at.get(t);
      if (to === undefined) throw new Error(`seccomp: unknown label ${t}`);
      const d = to - here - 1;
      if (d < 0 || d > 255) throw new Error(`seccomp: jump to ${t} out of range (${d})`);
      return d;
    };
    out.push({ code: s.code, jt: offset(s.jt), jf: offset(s.jf), k: s.k >>> 0 });
  }
  return out;
}

/** The filter as instructions (see the policy at the top of this file). */
export function sandboxFilter(): Instruction[] {
  const steps: Step[] = [
    ld(OFF_ARCH),
    jump(JEQ_K, AUDIT_ARCH_X86_64, "native"),
    ret(RET_KILL_PROCESS),
    label("native"),
    ld(OFF_NR),
    jump(JGE_K, X32_SYSCALL_BIT, "eperm"),
    ...Object.values(DENIED_SYSCALLS).map((nr) => jump(JEQ_K, nr, "eperm")),
    jump(JEQ_K, SYS_CLONE3, "enosys"),
    jump(JEQ_K, SYS_CLONE, "namespace_flags"),
    jump(JEQ_K, SYS_UNSHARE, "namespace_flags"),
    jump(JEQ_K, SYS_PERSONALITY, "personality"),
    ret(RET_ALLOW),
    label("namespace_flags"),
    ld(OFF_ARG0),
    jump(JSET_K, CLONE_NAMESPACE_FLAGS, "eperm"),
    ret(RET_ALLOW),
    label("personality"),
    ld(OFF_ARG0),
    jump(JEQ_K, PERSONALITY_QUERY, "allow"),
    jump(JEQ_K, PER_LINUX, "allow", "eperm"),
    label("allow"),
    ret(RET_ALLOW),
    label("eperm"),
    ret(RET_ERRNO | EPERM),
    label("enosys"),
    ret(RET_ERRNO | ENOSYS),
  ];
  return assemble(steps);
}

/** struct sock_filter[] as the kernel reads it: u16 code, u8 jt, u8 jf, u32 k, little-endian. */
export function encodeFilter(program: Instruction[]): Uint8Array {
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach((ins, i) => {
    view.setUint16(i * 8, ins.code, true);
    view.setUint8(i * 8 + 2, ins.jt);
    view.setUint8(i * 8 + 3, ins.jf);
    view.setUint32(i * 8 + 4, ins.k, true);
  });
  return bytes;
}
