// Text from another party (an agent's error details, file names, evidence fields) printed to a
// terminal: control characters would let it rewrite the screen (ANSI escapes, carriage returns).

/** C0/C1 controls, DEL and Unicode line/paragraph separators, as visible escapes (\n, \x1b, \u2028). */
export function escapeControl(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
