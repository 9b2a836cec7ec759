import { describe, expect, test } from "bun:test";
import { StreamDemuxer, engineSocket } from "./docker-engine.ts";

function frame(stream: number, text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + payload.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, payload.length);
  out.set(payload, 8);
  return out;
}

describe("StreamDemuxer", () => {
  test("splits frames of both streams, also when cut at any byte", () => {
    const all = new Uint8Array([...frame(1, "out-1\n"), ...frame(2, "err\n"), ...frame(1, "out-2")]);
    for (let cut = 0; cut <= all.length; cut++) {
      const got: string[] = [];
      const demux = new StreamDemuxer((s, p) => got.push(`${s}:${new TextDecoder().decode(p)}`));
      demux.push(all.subarray(0, cut));
      demux.push(all.subarray(cut));
      expect(got).toEqual(["stdout:out-1\n", "stderr:err\n", "stdout:out-2"]);
      expect(demux.pending).toBe(0);
    }
  });

  test("a TTY-style raw stream is rejected with what arrived", () => {
    const demux = new StreamDemuxer(() => {});
    expect(() => demux.push(new TextEncoder().encode("hello world\n"))).toThrow(
      "log stream: expected a frame header [0-2, 0, 0, 0, size], got [104,101,108,108,111,32,119,111]",
    );
  });
});

describe("engineSocket", () => {
  test("default, unix:// and an unsupported scheme", () => {
    expect(engineSocket({})).toBe("/var/run/docker.sock");
    expect(engineSocket({ DOCKER_HOST: "unix:///run/user/1000/docker.sock" })).toBe("/run/user/1000/docker.sock");
    expect(() => engineSocket({ DOCKER_HOST: "tcp://10.0.0.1:2375" })).toThrow(
      "DOCKER_HOST: expected unix:///path/to/docker.sock, got tcp://10.0.0.1:2375",
    );
  });
});
