// `cocos-cli policy measurement --image`: the measurement computed from image.json alone equals the
// one the manager derives from the files it boots (manager/measurement.ts); any change to a booted
// input (kernel, initramfs, command line, the appended settings) gives another measurement. The
// booted check — evidence from a real VM carries exactly this value — is in test/e2e-qemu.test.ts.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatPolicy, trustSimRoot } from "../attestation/policy.ts";
import type { CliContext } from "../cli/context.ts";
import { runCli } from "../cli/program.ts";
import { measureLaunch } from "../manager/measurement.ts";

const dir = mkdtempSync(join(tmpdir(), "cocos-imgmeas-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (b: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
const CMDLINE = "console=ttyS0 quiet panic=-1";
const SETTINGS = "cocos.attestation=host cocos.computation_id=c1 cocos.grpc_port=7002";

/** A fake image: two files and the image.json fields the CLI reads. */
function image(name: string, kernel = "kernel bytes", initrd = "initrd bytes", cmdline = CMDLINE) {
  writeFileSync(join(dir, `${name}.vmlinux`), kernel);
  writeFileSync(join(dir, `${name}.cpio`), initrd);
  const json = join(dir, `${name}.json`);
  const inputs = { kernel: "vmlinux", kernel_sha256: sha256(kernel), initrd: "initramfs.cpio", initrd_sha256: sha256(initrd), cmdline };
  writeFileSync(json, JSON.stringify({ schema: "cocos-image/v1", cmdline, measurement_inputs: inputs }));
  return { json, kernel: join(dir, `${name}.vmlinux`), initrd: join(dir, `${name}.cpio`) };
}

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const c: CliContext = { out: (l) => out.push(l), err: (l) => err.push(l), cwd: dir, env: {}, tty: false };
  const r = await runCli(argv, c);
  return { code: r.code, out, err: err.join("\n") };
}

describe("cocos-cli policy measurement --image", () => {
  test("equals the manager's measurement of the booted files and full command line", async () => {
    const img = image("a");
    const r = await cli(["policy", "measurement", "--image", img.json, "--append", SETTINGS]);
    expect(r.code).toBe(0);
    const launched = await measureLaunch({ kernel: img.kernel, initrd: img.initrd, cmdline: `${CMDLINE} ${SETTINGS}` });
    expect(r.out).toEqual([Buffer.from(launched.measurement).toString("hex")]);
    // Without settings: the image's own command line.
    const bare = await cli(["policy", "measurement", "--image", img.json]);
    expect(bare.out).toEqual([Buffer.from((await measureLaunch({ kernel: img.kernel, initrd: img.initrd, cmdline: CMDLINE })).measurement).toString("hex")]);
  });

  test("a host that boots anything else (kernel, initramfs, command line, settings) yields another measurement", async () => {
    const pinned = (await cli(["policy", "measurement", "--image", image("p").json, "--append", SETTINGS])).out[0]!;
    const others = [
      image("k", "another kernel").json,
      image("i", "kernel bytes", "initrd with a backdoor").json,
      image("c", "kernel bytes", "initrd bytes", `${CMDLINE} init=/bin/sh`).json,
    ];
    // Each one a measurement (a refused image.json prints none, which would differ trivially).
    const measured = async (json: string, settings = SETTINGS) => {
      const hex = (await cli(["policy", "measurement", "--image", json, "--append", settings])).out[0];
      expect(hex).toMatch(/^[0-9a-f]{96}$/);
      return hex;
    };
    expect(pinned).toMatch(/^[0-9a-f]{96}$/);
    for (const o of others) expect(await measured(o)).not.toBe(pinned);
    const attestationOff = SETTINGS.replace("cocos.attestation=host", "cocos.attestation=none");
    expect(await measured(image("p").json, attestationOff)).not.toBe(pinned);
  });

  test("writes the computed value into a policy file", async () => {
    const img = image("w");
    const policy = join(dir, "policy.json");
    writeFileSync(policy, formatPolicy(trustSimRoot({}, "00".repeat(32))));
    const r = await cli(["policy", "measurement", "--image", img.json, "--append", SETTINGS, "policy.json"]);
    expect(r.code).toBe(0);
    const expected = (await measureLaunch({ kernel: img.kernel, initrd: img.initrd, cmdline: `${CMDLINE} ${SETTINGS}` })).measurement;
    expect(JSON.parse(readFileSync(policy, "utf8")).policy.measurement).toBe(Buffer.from(expected).toString("base64"));
  });

  test("--flavour full: the full flavour's own initramfs and inputs; a host booting the other flavour gives another value", async () => {
    const min = image("fm");
    const full = image("ff", "kernel bytes", "full initrd bytes");
    const flavoured = (f: string) => ({ measurement_inputs: JSON.parse(readFileSync(f, "utf8")).measurement_inputs });
    const json = join(dir, "flavours.json");
    const minimal = flavoured(min.json);
    writeFileSync(json, JSON.stringify({ schema: "cocos-image/v1", cmdline: CMDLINE, ...minimal, flavours: { minimal, full: flavoured(full.json) } }));
    const hex = async (files: { kernel: string; initrd: string }) =>
      Buffer.from((await measureLaunch({ ...files, cmdline: `${CMDLINE} ${SETTINGS}` })).measurement).toString("hex");
    const pinnedFull = (await cli(["policy", "measurement", "--image", json, "--flavour", "full", "--append", SETTINGS])).out[0];
    expect(pinnedFull).toBe(await hex(full));
    expect((await cli(["policy", "measurement", "--image", json, "--append", SETTINGS])).out[0]).toBe(await hex(min));
    expect(await hex(min)).not.toBe(pinnedFull);
    const onlyMinimal = join(dir, "only-minimal.json");
    writeFileSync(onlyMinimal, JSON.stringify({ ...minimal, flavours: { minimal } }));
    const r = await cli(["policy", "measurement", "--image", onlyMinimal, "--flavour", "full"]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("expected the full flavour in \"flavours\", found only minimal (build it with `bun run images -- --flavour full`)");
    expect((await cli(["policy", "measurement", "--image", min.json, "--flavour", "full"])).err).toContain('expected a "flavours" section with the full flavour, found none');
  });

  test("bad input: clear errors saying what was expected and what arrived", async () => {
    const notJson = join(dir, "bad.json");
    writeFileSync(notJson, "{");
    expect((await cli(["policy", "measurement", "--image", notJson])).err).toContain("expected image.json");
    const noInputs = join(dir, "noinputs.json");
    writeFileSync(noInputs, "{}");
    expect((await cli(["policy", "measurement", "--image", noInputs])).err).toContain('expected an image.json with "measurement_inputs"');
    const badHash = join(dir, "badhash.json");
    writeFileSync(badHash, JSON.stringify({ measurement_inputs: { kernel_sha256: "abc", initrd_sha256: sha256("x"), cmdline: CMDLINE } }));
    const r = await cli(["policy", "measurement", "--image", badHash]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('measurement_inputs.kernel_sha256: expected a SHA-256 in hex (64 characters), got "abc"');
    expect((await cli(["policy", "measurement", "--image", join(dir, "missing.json")])).err).toContain("could not read the image description");
    expect((await cli(["policy", "measurement", "--image", image("x").json, "a.json", "b.json"])).err).toContain("at most one argument");
    expect((await cli(["policy", "measurement"])).err).toContain("expected <measurement> <policy_file>, or --image");
  });
});
