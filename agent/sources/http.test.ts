// The network and the source's server are the adversary: each fault is refused with what was
// expected and what arrived; transient ones are retried a bounded number of times.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { SourceError } from "./errors.ts";
import { httpGet } from "./http.ts";

const BODY = new TextEncoder().encode("sepal_length,sepal_width\n5.1,3.5\n".repeat(50));
let hits: Record<string, number> = {};

function sink() {
  const parts: Uint8Array[] = [];
  return { parts, bytes: () => Buffer.concat(parts), write: async (c: Uint8Array) => void parts.push(c) };
}

let server: ReturnType<typeof Bun.serve>;
let other: ReturnType<typeof Bun.serve>;
let raw: { port: number; stop(closeActive?: boolean): void };
let base = "";

beforeAll(() => {
  other = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(BODY) });
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      hits[path] = (hits[path] ?? 0) + 1;
      switch (path) {
        case "/iris.csv":
          return new Response(BODY);
        case "/moved":
          return Response.redirect(`${base}/iris.csv`, 302);
        case "/elsewhere":
          return Response.redirect(`http://127.0.0.1:${other.port}/iris.csv`, 302);
        case "/flaky":
          return hits[path]! < 3 ? new Response("busy", { status: 503 }) : new Response(BODY);
        case "/down":
          return new Response("busy", { status: 503 });
        case "/endless":
          // Chunked, no Content-Length: only the reader's count can stop it.
          return new Response(
            new ReadableStream({
              pull(c) {
                c.enqueue(new Uint8Array(64 * 1024));
              },
            }),
          );
        case "/silent":
          return new Promise<Response>(() => {});
        default:
          return new Response("no such file", { status: 404 });
      }
    },
  });
  base = `http://127.0.0.1:${server.port}`;
  // Announces more than it sends, or a large size, over raw HTTP/1.1 (Bun.serve would fix the header).
  raw = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, d) {
        const big = String(d).startsWith("GET /big");
        s.write(big ? `HTTP/1.1 200 OK\r\nContent-Length: ${10 << 20}\r\nConnection: close\r\n\r\n` : `HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n${"x".repeat(40)}`);
        s.end();
      },
    },
  });
});

afterAll(() => {
  server.stop(true);
  other.stop(true);
  raw.stop(true);
});

const opts = { maxBytes: 1 << 20, idleTimeoutMs: 2000 };

async function refusal(p: Promise<unknown>): Promise<SourceError> {
  const err = await p.then(() => null, (e) => e);
  expect(err).toBeInstanceOf(SourceError);
  return err as SourceError;
}

test("a resource is streamed whole and counted", async () => {
  const s = sink();
  expect(await httpGet(`${base}/iris.csv`, s, opts)).toBe(BODY.byteLength);
  expect(s.bytes().equals(Buffer.from(BODY))).toBe(true);
});

test("a redirect on the same host is followed", async () => {
  const s = sink();
  expect(await httpGet(`${base}/moved`, s, opts)).toBe(BODY.byteLength);
});

test("a 404 is refused, naming expected and received status, and not retried", async () => {
  const e = await refusal(httpGet(`${base}/missing.csv`, sink(), opts));
  expect(e.message).toContain("expected HTTP 200, received 404");
  expect(e.retryable).toBe(false);
});

test("a redirect to another host is refused before that host is asked", async () => {
  const before = hits["/iris.csv"] ?? 0;
  const e = await refusal(httpGet(`${base}/elsewhere`, sink(), opts));
  expect(e.message).toContain(`redirects to another host: expected 127.0.0.1:${server.port}, received a redirect to 127.0.0.1:${other.port}`);
  expect(hits["/iris.csv"] ?? 0).toBe(before);
});

test("a server that lies about its length (announces 100, sends 40) is refused", async () => {
  const s = sink();
  const e = await refusal(httpGet(`http://127.0.0.1:${raw.port}/short`, s, opts));
  expect(e.message).toMatch(/expected 100 bytes \(Content-Length\), received 40|broke off after \d+ bytes of the 100 announced/);
});

test("a server that announces more than the limit is refused before the body is read", async () => {
  const s = sink();
  const e = await refusal(httpGet(`http://127.0.0.1:${raw.port}/big`, s, opts));
  expect(e.message).toContain(`expected at most ${1 << 20} bytes, the server announces ${10 << 20}`);
  expect(s.parts.length).toBe(0);
});

test("a server that streams more bytes than the limit is cut off at the limit", async () => {
  const s = sink();
  const e = await refusal(httpGet(`${base}/endless`, s, opts));
  expect(e.message).toContain(`serves more bytes than allowed: expected at most ${1 << 20} bytes (the size limit)`);
  expect(s.bytes().byteLength).toBeLessThanOrEqual(1 << 20);
});

test("a 503 is retryable; a silent server is abandoned after the idle timeout", async () => {
  expect((await refusal(httpGet(`${base}/down`, sink(), opts))).retryable).toBe(true);
  const e = await refusal(httpGet(`${base}/silent`, sink(), { ...opts, idleTimeoutMs: 200 }));
  expect(e.message).toContain("no response within 200 ms");
  expect(e.retryable).toBe(true);
});
