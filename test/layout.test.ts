// DESIGN.md "Layout": one folder per room, and who may import whom. Every non-test source file's
// relative imports are resolved to the room they land in and checked against the table; unit tests
// (*.test.ts) and test fixtures (testdata/ folders) may import anything, like bench/ and test/.
// scripts/ (repository tooling: build, demo, test-all) is not a room of the table and may too.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = join(import.meta.dir, "..");

/** Room → rooms it may import (besides itself). `*` = anything. */
export const MAY_IMPORT: Record<string, readonly string[] | "*"> = {
  proto: [],
  protocol: ["proto"],
  attestation: ["protocol"],
  runtime: ["protocol"],
  wit: [],
  agent: ["protocol", "attestation", "runtime"],
  manager: ["protocol", "attestation"],
  cli: ["protocol", "attestation", "runtime"],
  console: ["protocol", "attestation"],
  images: [],
  examples: [],
  bench: "*",
  test: "*",
  scripts: "*",
};

const SOURCE = /\.(ts|tsx|js|mjs|cjs)$/;
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)["'`](\.{1,2}\/[^"'`]+)["'`]/g;

function sourceFiles(): string[] {
  const out = Bun.spawnSync(["git", "ls-files", "--cached", "--others", "--exclude-standard"], { cwd: ROOT }).stdout.toString();
  return out.split("\n").filter((f) => SOURCE.test(f) && !f.endsWith(".d.ts") && !/\.test\.[a-z]+$/.test(f) && !/(^|\/)(node_modules|testdata)\//.test(f));
}

export function violations(files: string[], read: (f: string) => string): string[] {
  const bad: string[] = [];
  for (const file of files) {
    const room = file.split("/")[0]!;
    const allowed = MAY_IMPORT[room];
    if (allowed === "*") continue;
    if (!allowed) {
      if (file.includes("/")) bad.push(`${file}: folder ${room}/ is not a room of DESIGN.md's layout`);
      continue;
    }
    for (const m of read(file).matchAll(SPECIFIER)) {
      const target = normalize(join(dirname(file), m[1]!));
      if (target.startsWith("..")) {
        bad.push(`${file}: imports ${m[1]} outside the repository`);
        continue;
      }
      const to = target.split("/")[0]!;
      if (to !== room && !allowed.includes(to)) {
        bad.push(`${file}: ${room}/ may import ${allowed.join(", ") || "nothing else"}, but imports ${relative(".", target)} (${to}/)`);
      }
    }
  }
  return bad;
}

describe("layout (DESIGN.md)", () => {
  test("every non-test file imports only the rooms its room may import", () => {
    const files = sourceFiles();
    expect(files.length).toBeGreaterThan(50);
    expect(violations(files, (f) => readFileSync(join(ROOT, f), "utf8"))).toEqual([]);
  });

  test("the check catches a forbidden import (runtime → agent, console → manager, agent → cli)", () => {
    const fake: Record<string, string> = {
      "runtime/x.ts": `import { a } from "../agent/state.ts";`,
      "console/y.ts": `const m = await import("../manager/api.ts");`,
      "agent/z.ts": `export * from "../cli/program.ts";\nimport "../protocol/hash.ts";`,
      "protocol/ok.ts": `import { b } from "./hash.ts";`,
    };
    const v = violations(Object.keys(fake), (f) => fake[f]!);
    expect(v).toHaveLength(3);
    expect(v.join("\n")).toContain("runtime/x.ts: runtime/ may import protocol, but imports agent/state.ts (agent/)");
  });
});
