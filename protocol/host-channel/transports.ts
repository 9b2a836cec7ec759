// Byte-stream connectors for the framed channel: Unix sockets (process backend; host side of QEMU's
// chardev sockets), virtio-serial character devices (guest), and AF_VSOCK (guest, where the kernel has it).
import * as net from "node:net";
import * as fs from "node:fs";
import { unlink } from "node:fs/promises";
import type { Connection, Connector, ConnectorHandlers } from "./channel.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function socketConnection(sock: net.Socket): Connection {
  return {
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        if (sock.destroyed) return reject(new Error("socket closed"));
        sock.write(bytes, (err) => (err ? reject(err) : resolve()));
      }),
    close: () => sock.destroy(),
  };
}

function wire(sock: net.Socket, h: ConnectorHandlers, onGone: () => void): Connection {
  const conn = socketConnection(sock);
  sock.on("data", (d: Buffer) => h.onData(conn, new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
  let gone = false;
  const end = () => {
    if (gone) return;
    gone = true;
    h.onClose(conn);
    onGone();
  };
  sock.on("close", end);
  sock.on("error", end);
  return conn;
}

/** Dials a Unix socket and re-dials (backoff up to 2 s) whenever it drops, until stopped. */
export function unixConnector(path: string): Connector {
  let stopped = false;
  let sock: net.Socket | null = null;
  let h: ConnectorHandlers;
  let delay = 50;
  const dial = () => {
    if (stopped) return;
    const s = net.createConnection({ path });
    sock = s;
    let opened = false;
    s.once("connect", () => {
      opened = true;
      delay = 50;
      h.onOpen(wire(s, h, retry));
    });
    s.once("error", () => {
      if (opened) return; // wire() handles errors after the connection is up
      s.destroy();
      retry();
    });
  };
  let retrying = false;
  const retry = () => {
    if (stopped || retrying) return;
    retrying = true;
    setTimeout(() => {
      retrying = false;
      dial();
    }, delay);
    delay = Math.min(delay * 2, 2000);
  };
  return {
    description: `unix:${path}`,
    start(handlers) {
      h = handlers;
      dial();
    },
    async stop() {
      stopped = true;
      sock?.destroy();
    },
  };
}

/** Listens on a Unix socket; the newest accepted connection is the live one. */
export function unixListener(path: string): Connector {
  let server: net.Server | null = null;
  const socks = new Set<net.Socket>();
  return {
    description: `unix-listen:${path}`,
    start(h) {
      server = net.createServer((s) => {
        socks.add(s);
        h.onOpen(wire(s, h, () => socks.delete(s)));
      });
      unlink(path)
        .catch(() => {})
        .then(() => server!.listen(path));
    },
    async stop() {
      for (const s of socks) s.destroy();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      await unlink(path).catch(() => {});
    },
  };
}

/**
 * An already-open file descriptor (virtio-serial port, vsock socket): reads run in the thread pool
 * (fs.read), writes with fs.write. Bun's net.Socket cannot wrap a raw fd (toolchain-notes §5).
 */
function fdRead(fd: number, buf: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

function fdWrite(fd: number, buf: Uint8Array, off: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, off, buf.length - off, null, (err, n) => (err ? reject(err) : resolve(n))));
}

async function pumpFd(fd: number, conn: Connection, h: ConnectorHandlers, isStopped: () => boolean, eofMeansClosed: boolean): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  while (!isStopped()) {
    let n: number;
    try {
      n = await fdRead(fd, buf);
    } catch {
      if (eofMeansClosed) return;
      await sleep(200);
      continue;
    }
    if (n === 0) {
      if (eofMeansClosed) return;
      await sleep(200); // virtio-serial reads 0 while the host side is not connected
      continue;
    }
    h.onData(conn, buf.slice(0, n));
  }
}

function fdConnection(fd: number): Connection {
  let chain = Promise.resolve();
  return {
    write(bytes) {
      // Serialise writes so frames never interleave.
      const next = chain.then(async () => {
        let off = 0;
        while (off < bytes.length) off += await fdWrite(fd, bytes, off);
      });
      chain = next.catch(() => {});
      return next;
    },
    close: () => fs.close(fd, () => {}),
  };
}

/** Guest side of a virtio-serial port, e.g. /dev/virtio-ports/cocos.events. */
export function virtioSerialConnector(devicePath: string): Connector {
  let stopped = false;
  let fd = -1;
  return {
    description: `virtio-serial:${devicePath}`,
    start(h) {
      (async () => {
        while (!stopped) {
          try {
            fd = fs.openSync(devicePath, "r+");
            break;
          } catch {
            await sleep(500);
          }
        }
        if (stopped || fd < 0) return;
        const conn = fdConnection(fd);
        h.onOpen(conn);
        await pumpFd(fd, conn, h, () => stopped, false);
        h.onClose(conn);
      })();
    },
    async stop() {
      stopped = true;
      if (fd >= 0) fs.close(fd, () => {});
    },
  };
}

/** Guest side AF_VSOCK: dials host CID 2 (default) on `port`, re-dialing when the stream ends. */
export function vsockConnector(port: number, cid = 2): Connector {
  let stopped = false;
  let current = -1;
  return {
    description: `vsock:${cid}:${port}`,
    start(h) {
      (async () => {
        const { vsockConnect } = await import("./vsock.ts");
        while (!stopped) {
          try {
            current = vsockConnect(cid, port);
          } catch {
            await sleep(1000);
            continue;
          }
          const conn = fdConnection(current);
          h.onOpen(conn);
          await pumpFd(current, conn, h, () => stopped, true);
          h.onClose(conn);
          conn.close();
          current = -1;
          await sleep(500);
        }
      })();
    },
    async stop() {
      stopped = true;
      if (current >= 0) fs.close(current, () => {});
    },
  };
}
