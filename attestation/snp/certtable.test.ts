import { expect, test } from "bun:test";
import { buildCertTable, parseCertTable } from "./certtable.ts";

test("parsing a Buffer leaves its GUIDs as they were (Buffer.slice is a view: reordering a 'copy' rewrote the evidence)", () => {
  const table = Buffer.from(buildCertTable({ ark: new Uint8Array([1, 2]), vcek: new Uint8Array([3]) }));
  const before = Buffer.from(table);
  const first = parseCertTable(table);
  expect(table.equals(before)).toBe(true);
  // A second parse of the same bytes still finds the certificates by GUID.
  expect(parseCertTable(table)).toEqual(first);
  expect(first).toEqual({ ok: true, certs: { ark: new Uint8Array([1, 2]), vcek: new Uint8Array([3]) }, unknown: [] });
});
