// Minimal QMP client: handshake, one command, close. Used to learn that QEMU finished machine
// set-up (its main loop answers) and to ask it to quit.
import { connect } from "node:net";

export function qmpCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let buf = "";
    let stage = 0;
    const timer = setTimeout(() => finish(new Error(`QMP ${command} on ${socketPath}: no answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err: Error | null, value?: unknown) => {
      clearTimeout(timer);
      sock.destroy();
      err ? reject(err) : resolve(value);
    };
    sock.on("error", (e) => finish(new Error(`QMP ${command} on ${socketPath}: ${e.message}`)));
    sock.on("close", () => finish(new Error(`QMP ${command} on ${socketPath}: connection closed before the answer`)));
    sock.on("data", (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line);
        } catch {
          return finish(new Error(`QMP: expected JSON lines, got ${JSON.stringify(line.slice(0, 80))}`));
        }
        if ("event" in msg) continue;
        if (stage === 0 && "QMP" in msg) {
          stage = 1;
          sock.write(JSON.stringify({ execute: "qmp_capabilities" }) + "\n");
        } else if (stage === 1 && "return" in msg) {
          stage = 2;
          sock.write(JSON.stringify({ execute: command }) + "\n");
        } else if (stage === 2) {
          if ("error" in msg) return finish(new Error(`QMP ${command}: ${JSON.stringify(msg.error)}`));
          return finish(null, msg.return);
        }
      }
    });
  });
}
