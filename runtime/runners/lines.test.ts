import { describe, expect, test } from "bun:test";
import { LineSplitter, MAX_LOG_LINE } from "./lines.ts";

function split(chunks: (string | Uint8Array)[]): string[] {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l));
  for (const c of chunks) s.push(typeof c === "string" ? new TextEncoder().encode(c) : c);
  s.flush();
  return out;
}

describe("LineSplitter", () => {
  test("lines across chunks, CRLF, empty lines and a final partial line", () => {
    expect(split(["a", "b\nc\r\n", "\nd"])).toEqual(["ab", "c", "", "d"]);
  });

  test("a UTF-8 character split between chunks is decoded whole", () => {
    const bytes = new TextEncoder().encode("é\n");
    expect(split([bytes.subarray(0, 1), bytes.subarray(1)])).toEqual(["é"]);
  });

  test("a line without newline is cut into pieces of MAX_LOG_LINE", () => {
    const out = split(["x".repeat(MAX_LOG_LINE * 2 + 5)]);
    expect(out.map((l) => l.length)).toEqual([MAX_LOG_LINE, MAX_LOG_LINE, 5]);
  });
});
