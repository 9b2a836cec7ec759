import { expect, test } from "bun:test";
import { escapeControl } from "./text.ts";

test("control characters become visible escapes; ordinary text (incl. non-ASCII) is kept", () => {
  expect(escapeControl("ok\x1b[2J\rfake\nline\x07\u2028")).toBe("ok\\x1b[2J\\rfake\\nline\\x07\\u2028");
  expect(escapeControl("\x9b31m")).toBe("\\x9b31m");
  expect(escapeControl("héllo ‖ 日本")).toBe("héllo ‖ 日本");
});
