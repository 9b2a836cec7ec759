// The agent's HTTP/2 server advertises 1 MiB frames and an 8 MiB stream window (with the 16 KiB /
// 64 KiB defaults an upload crawls on frames and WINDOW_UPDATEs).
import { expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import http2 from "node:http2";
import type { Computation } from "./computation.ts";
import { bindServer, createAgentGrpcServer, HTTP2_SETTINGS } from "./grpc.ts";
import { Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";

test("a client sees the agent's frame size and stream window", async () => {
  const server = createAgentGrpcServer({ computation: {} as Computation, attestation: { provider: () => null }, log: new Logger("info", () => {}), metrics: new Metrics(() => "Idle") });
  const port = await bindServer(server, "127.0.0.1:0", grpc.ServerCredentials.createInsecure());
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const settings = await new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));
    expect(settings.maxFrameSize).toBe(HTTP2_SETTINGS.maxFrameSize);
    expect(settings.initialWindowSize).toBe(HTTP2_SETTINGS.initialWindowSize);
  } finally {
    session.destroy();
    server.forceShutdown();
  }
});
