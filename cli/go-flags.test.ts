import { describe, expect, test } from "bun:test";
import { Command, Option } from "commander";
import { normaliseGoFlags } from "./go-flags.ts";

function program() {
  const p = new Command("cocos-cli").option("-v, --verbose");
  p.command("keys").addOption(new Option("-k, --key-type <type>").choices(["rsa", "ecdsa", "ed25519"]));
  p.command("algo").argument("<file>").option("-a, --algorithm <type>").option("--args <v>").option("-r, --requirements <file>");
  p.command("data").argument("<path>").option("-d, --decompress");
  const att = p.command("attestation");
  att.command("validate").argument("<file>").option("--report_data <hex>").option("--json").option("--vcek <file>");
  return p;
}
const norm = (...argv: string[]) => normaliseGoFlags(argv, program());

describe("Go flag spellings become commander's", () => {
  test("pflag shorthand with =", () => {
    expect(norm("keys", "-k=rsa")).toEqual(["keys", "--key-type", "rsa"]);
    expect(norm("algo", "a.wasm", "-a=wasm")).toEqual(["algo", "a.wasm", "--algorithm", "wasm"]);
  });
  test("the forms commander already reads keep their meaning", () => {
    expect(norm("keys", "-k", "rsa")).toEqual(["keys", "--key-type", "rsa"]);
    expect(norm("keys", "-krsa")).toEqual(["keys", "--key-type", "rsa"]);
    expect(norm("keys", "--key-type=ed25519")).toEqual(["keys", "--key-type", "ed25519"]);
    expect(norm("algo", "x", "--args=a=b", "--args", "c")).toEqual(["algo", "x", "--args", "a=b", "--args", "c"]);
  });
  test("an option's value is never rewritten, even when it looks like a flag", () => {
    expect(norm("algo", "x", "--args", "-a=wasm")).toEqual(["algo", "x", "--args", "-a=wasm"]);
    expect(norm("algo", "x", "-a", "-k=rsa")).toEqual(["algo", "x", "--algorithm", "-k=rsa"]);
  });
  test("Go flag's single-dash long names, when the command has them", () => {
    expect(norm("attestation", "validate", "f", "-report_data=ab", "-json")).toEqual(["attestation", "validate", "f", "--report_data", "ab", "--json"]);
    expect(norm("attestation", "validate", "f", "-vcek", "v.pem")).toEqual(["attestation", "validate", "f", "--vcek", "v.pem"]);
  });
  test("booleans take Go's strconv.ParseBool values", () => {
    expect(norm("data", "p", "-d=true")).toEqual(["data", "p", "--decompress"]);
    expect(norm("data", "p", "--decompress=false")).toEqual(["data", "p"]);
    expect(norm("data", "p", "--decompress=T", "-v=0")).toEqual(["data", "p", "--decompress"]);
    expect(norm("data", "p", "--decompress=maybe")).toEqual(["data", "p", "--decompress=maybe"]); // commander refuses it
  });
  test("positionals, unknown options and everything after -- pass unchanged", () => {
    expect(norm("data", "-x=1", "p", "--", "-d=true")).toEqual(["data", "-x=1", "p", "--", "-d=true"]);
    expect(norm("keys", "-vk=rsa")).toEqual(["keys", "-vk=rsa"]); // grouped booleans with a value: left to commander
    expect(norm("data", "keys", "-d")).toEqual(["data", "keys", "--decompress"]); // "keys" is data's positional here
  });
  test("parent options are known in subcommands", () => {
    expect(norm("keys", "-v=true", "-k=ecdsa")).toEqual(["keys", "--verbose", "--key-type", "ecdsa"]);
  });
});
