// The filter run through a small classic-BPF interpreter (the opcodes the filter uses), so every
// branch is checked without a kernel; runtime/runners/sandbox.test.ts checks it in the kernel.
import { describe, expect, test } from "bun:test";
import {
  AUDIT_ARCH_X86_64, CLONE_NAMESPACE_FLAGS, DENIED_SYSCALLS, ENOSYS, EPERM, RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS,
  SYS_CLONE, SYS_CLONE3, SYS_PERSONALITY, SYS_UNSHARE, X32_SYSCALL_BIT, encodeFilter, sandboxFilter,
} from "./seccomp.ts";

/** Executes the encoded program on one struct seccomp_data (nr, arch, args[0] low word). */
function execute(bytes: Uint8Array, data: { nr: number; arch?: number; arg0?: number }): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const word = (offset: number) => {
    if (offset === 0) return data.nr >>> 0;
    if (offset === 4) return (data.arch ?? AUDIT_ARCH_X86_64) >>> 0;
    if (offset === 16) return (data.arg0 ?? 0) >>> 0;
    throw new Error(`unexpected load at offset ${offset}`);
  };
  let acc = 0;
  for (let pc = 0, steps = 0; steps < 1000; steps++) {
    if (pc * 8 >= bytes.length) throw new Error("fell off the end of the program");
    const code = view.getUint16(pc * 8, true);
    const jt = view.getUint8(pc * 8 + 2);
    const jf = view.getUint8(pc * 8 + 3);
    const k = view.getUint32(pc * 8 + 4, true);
    pc++;
    switch (code) {
      case 0x20: acc = word(k); break;
      case 0x15: pc += acc === k ? jt : jf; break;
      case 0x35: pc += acc >= k ? jt : jf; break;
      case 0x45: pc += (acc & k) !== 0 ? jt : jf; break;
      case 0x06: return k;
      default: throw new Error(`unexpected opcode 0x${code.toString(16)}`);
    }
  }
  throw new Error("no return within 1000 steps");
}

const program = encodeFilter(sandboxFilter());
const EPERM_RET = (RET_ERRNO | EPERM) >>> 0;

describe("seccomp filter", () => {
  test("encodes struct sock_filter: 8 bytes per instruction, little-endian", () => {
    expect(program.length).toBe(sandboxFilter().length * 8);
    // First instruction: BPF_LD|BPF_W|BPF_ABS of seccomp_data.arch (offset 4).
    expect([...program.subarray(0, 8)]).toEqual([0x20, 0, 0, 0, 4, 0, 0, 0]);
  });

  test("ordinary system calls are allowed (read, write, openat, execve, exit_group)", () => {
    for (const nr of [0, 1, 257, 59, 231]) expect(execute(program, { nr })).toBe(RET_ALLOW);
  });

  test("every denied system call gets EPERM", () => {
    for (const [name, nr] of Object.entries(DENIED_SYSCALLS)) expect(execute(program, { nr }), name).toBe(EPERM_RET);
  });

  test("another architecture is killed; the x32 ABI is refused", () => {
    expect(execute(program, { nr: 1, arch: 0x40000003 /* AUDIT_ARCH_I386 */ })).toBe(RET_KILL_PROCESS);
    expect(execute(program, { nr: 39 | X32_SYSCALL_BIT })).toBe(EPERM_RET);
  });

  test("clone and unshare: refused with any namespace flag, allowed without", () => {
    for (const nr of [SYS_CLONE, SYS_UNSHARE]) {
      for (let bit = 0; bit < 32; bit++) {
        const flag = (1 << bit) >>> 0;
        const expected = (CLONE_NAMESPACE_FLAGS & flag) !== 0 ? EPERM_RET : RET_ALLOW;
        expect(execute(program, { nr, arg0: flag | 17 /* SIGCHLD */ }), `nr ${nr} flag 0x${flag.toString(16)}`).toBe(expected);
      }
    }
    expect(execute(program, { nr: SYS_CLONE, arg0: 0x01200011 /* glibc fork */ })).toBe(RET_ALLOW);
    expect(execute(program, { nr: SYS_CLONE, arg0: 0x003d0f00 /* pthread_create */ })).toBe(RET_ALLOW);
  });

  test("clone3 gets ENOSYS so libc falls back to clone", () => {
    expect(execute(program, { nr: SYS_CLONE3 })).toBe((RET_ERRNO | ENOSYS) >>> 0);
  });

  test("personality: only the query and PER_LINUX pass", () => {
    expect(execute(program, { nr: SYS_PERSONALITY, arg0: 0xffffffff })).toBe(RET_ALLOW);
    expect(execute(program, { nr: SYS_PERSONALITY, arg0: 0 })).toBe(RET_ALLOW);
    expect(execute(program, { nr: SYS_PERSONALITY, arg0: 0x0400000 /* READ_IMPLIES_EXEC */ })).toBe(EPERM_RET);
    expect(execute(program, { nr: SYS_PERSONALITY, arg0: 0x0040000 /* ADDR_NO_RANDOMIZE */ })).toBe(EPERM_RET);
  });
});
