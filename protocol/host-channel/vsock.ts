// AF_VSOCK through bun:ffi (Bun has no vsock sockets). Only loaded where a vsock transport is chosen.
import { dlopen, FFIType, ptr, toArrayBuffer } from "bun:ffi";

const AF_VSOCK = 40;
const SOCK_STREAM = 1;

const libc = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  connect: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
});

function errno(): number {
  const p = libc.symbols.__errno_location();
  return p ? new Int32Array(toArrayBuffer(p, 0, 4))[0]! : -1;
}

/** struct sockaddr_vm: u16 family, u16 reserved, u32 port, u32 cid, u8 flags, u8[3] zero (16 bytes). */
function sockaddrVm(cid: number, port: number): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_VSOCK, true);
  dv.setUint32(4, port, true);
  dv.setUint32(8, cid, true);
  return b;
}

/** Blocking connect; returns the socket fd or throws with errno. */
export function vsockConnect(cid: number, port: number): number {
  const fd = libc.symbols.socket(AF_VSOCK, SOCK_STREAM, 0);
  if (fd < 0) throw new Error(`socket(AF_VSOCK) failed: errno ${errno()}`);
  const addr = sockaddrVm(cid, port);
  if (libc.symbols.connect(fd, ptr(addr), addr.length) !== 0) {
    const e = errno();
    libc.symbols.close(fd);
    throw new Error(`vsock connect to ${cid}:${port} failed: errno ${e}`);
  }
  return fd;
}

export function closeFd(fd: number): void {
  libc.symbols.close(fd);
}
