// Free TCP ports for agents. Probe-then-bind is racy (the original has the same race); callers that
// start a listener on the port report the bind error clearly.
import { createServer } from "node:net";

/** Tries to bind host:port; resolves true when it could (and releases it again). */
export function portFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** An ephemeral port chosen by the kernel. */
export function ephemeralPort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("kernel returned no port"))));
    });
  });
}

/** Parses "6100-6200" (MANAGER_QEMU_HOST_FWD_RANGE) into [start, end]. */
export function parsePortRange(text: string): [number, number] {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text);
  if (!m) throw new Error(`port range: expected "START-END" (e.g. 6100-6200), got ${JSON.stringify(text)}`);
  const a = Number(m[1]);
  const b = Number(m[2]);
  if (a < 1 || b > 65535 || a > b) throw new Error(`port range: expected 1 ≤ start ≤ end ≤ 65535, got ${a}-${b}`);
  return [a, b];
}

/** Lowest free port in [start, end] not in `taken`; throws when none is free. */
export async function freePortInRange(range: [number, number], taken: Set<number> = new Set()): Promise<number> {
  for (let p = range[0]; p <= range[1]; p++) {
    if (taken.has(p)) continue;
    if (await portFree(p)) return p;
  }
  throw new Error(`no free TCP port in ${range[0]}-${range[1]} (${taken.size} in use by this manager)`);
}
