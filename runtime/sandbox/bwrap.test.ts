import { describe, expect, test } from "bun:test";
import { INFO_FD, SECCOMP_FD, bwrapArgv, systemBinds, type SandboxLayout } from "./bwrap.ts";

const layout: SandboxLayout = {
  bwrap: "/usr/bin/bwrap",
  setpriv: "/usr/bin/setpriv",
  algorithm: "/w/algo",
  datasetsDir: "/w/datasets",
  resultsDir: "/w/results",
  readOnly: [{ source: "/w/venv", dest: "/venv" }, { source: "/root/.pyenv/versions/3.11", dest: "/root/.pyenv/versions/3.11" }],
  tmpBytes: 1024,
  cmd: ["/algo", "a b"],
};

/** The value following flag in argv (first occurrence). */
const after = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];

describe("bwrap argv", () => {
  const argv = bwrapArgv(layout, []);
  const [outer, inner] = [argv.slice(0, argv.indexOf("--")), argv.slice(argv.indexOf("--") + 1)];

  test("namespaces, die-with-parent, new session, capabilities only for setpriv", () => {
    for (const flag of ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]) {
      expect(outer).toContain(flag);
    }
    expect(after(outer, "--cap-drop")).toBe("ALL");
    expect(outer.filter((_, i) => outer[i - 1] === "--cap-add").sort()).toEqual(["CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID"]);
    // No user namespace: the sandbox is uid 65534 in the initial one (see bwrap.ts).
    expect(outer).not.toContain("--unshare-user");
    expect(outer).not.toContain("--unshare-all");
  });

  test("binds: algorithm and datasets read-only, results writable, root read-only, fresh /proc and /dev", () => {
    const binds = (flag: string) => outer.flatMap((a, i) => (a === flag ? [`${outer[i + 1]}→${outer[i + 2]}`] : []));
    expect(binds("--ro-bind")).toEqual(["/w/algo→/algo", "/w/datasets→/datasets", "/w/venv→/venv", "/root/.pyenv/versions/3.11→/root/.pyenv/versions/3.11"]);
    expect(binds("--bind")).toEqual(["/w/results→/results"]);
    expect(after(outer, "--remount-ro")).toBe("/");
    expect(after(outer, "--proc")).toBe("/proc");
    expect(after(outer, "--dev")).toBe("/dev");
    expect(after(outer, "--seccomp")).toBe(String(SECCOMP_FD));
    expect(after(outer, "--info-fd")).toBe(String(INFO_FD));
    // The parents of /root/.pyenv/... are made 0755 (the host's /root is 0700).
    expect(outer.join(" ")).toContain("--perms 0755 --dir /root --perms 0755 --dir /root/.pyenv --perms 0755 --dir /root/.pyenv/versions");
  });

  test("setpriv drops to 65534 with no groups and empty capability sets, then execs the program", () => {
    expect(inner).toEqual([
      "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--",
      "/algo", "a b",
    ]);
  });

  test("system binds: never /etc wholesale, /etc/shadow or /root", () => {
    const system = systemBinds();
    expect(system).not.toContain("/etc/shadow");
    expect(system).not.toContain("/root");
    expect(system.filter((a) => a === "/etc")).toEqual(["/etc"]); // only as the --dir that holds the binds
    expect(system[system.indexOf("/etc") - 1]).toBe("--dir");
  });
});
