import { describe, expect, test } from "bun:test";
import { escapeControl } from "./text.ts";

describe("escapeControl", () => {
  test("ANSI escapes, newlines, DEL and C1 become visible escapes; other text is unchanged", () => {
    expect(escapeControl("\x1b[2J\x1b]0;pwned\x07ok\r\nnext\x7f\x9b")).toBe("\\x1b[2J\\x1b]0;pwned\\x07ok\\x0d\\x0anext\\x7f\\x9b");
    expect(escapeControl("plain ünïcödé 🚀 text")).toBe("plain ünïcödé 🚀 text");
    expect(escapeControl("a\u2028b\u202ec")).toBe("a\\u{2028}b\\u{202e}c");
  });
});
