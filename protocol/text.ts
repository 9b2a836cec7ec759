// Text that came from a less trusted party (a guest, a peer) on its way to a log line or a terminal:
// control characters are rendered as visible escapes, so they can neither move a cursor, recolour a
// terminal, nor forge a new log line.

/** C0 (including tab and newline), DEL, C1, and the Unicode line/paragraph separators and bidi controls. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/** Renders every control character as `\xNN` (≤ 0xff) or `\u{NNNN}`; other text is unchanged. */
export function escapeControl(s: string): string {
  return s.replace(CONTROL, (c) => {
    const cp = c.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, "0")}` : `\\u{${cp.toString(16)}}`;
  });
}
