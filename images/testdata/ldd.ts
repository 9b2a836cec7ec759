// Test helper: what this machine's ldd resolves for a binary (the image tests check against it).
/** Sonames ldd reports for a binary of this machine (without the vDSO). */
export function lddSonames(path: string): string[] {
  const r = Bun.spawnSync(["ldd", path], { stdout: "pipe" });
  return r.stdout.toString().split("\n").map((l) => l.trim().split(/\s+/)[0]!).filter((s) => s && !s.startsWith("linux-vdso")).map((s) => s.split("/").pop()!);
}
