// Go flag spellings, rewritten into what commander parses, before commander sees the command line.
// Cocos's cocos-cli is cobra (pflag), whose docs and scripts write `-k=rsa`, `--decompress=true`; Go's
// `flag` package also takes single-dash long names (`-report_data=…`). Commander would read `-k=rsa`
// as the value "=rsa" and refuse `--decompress=false`. Only tokens naming a known option of the command
// being invoked are touched; option values, positionals and everything after `--` pass as they are.
import type { Command, Option } from "commander";
import { parseGoBool } from "../protocol/env-values.ts";

interface Found {
  option: Option;
  /** How commander spells it: the long name, else the short one. */
  flag: string;
}

/** The options visible at `cmd`: its own and its ancestors' (commander reads parent options anywhere). */
function lookup(cmd: Command): { short(ch: string): Found | undefined; long(name: string): Found | undefined } {
  const options: Option[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) options.push(...c.options);
  const spell = (o: Option) => ({ option: o, flag: (o.long ?? o.short)! });
  return {
    short: (ch) => {
      const o = options.find((x) => x.short === `-${ch}`);
      return o && spell(o);
    },
    long: (name) => {
      const o = options.find((x) => x.long === `--${name}`);
      return o && spell(o);
    },
  };
}

const takesValue = (o: Option) => o.required || o.optional;

/**
 * pflag's boolean `--flag=VALUE` (strconv.ParseBool): true → the bare flag, false → nothing (every
 * boolean here defaults to false). A value that is not a Go boolean is left for commander to refuse.
 */
function boolFlag(flag: string, value: string): string[] | undefined {
  try {
    return parseGoBool(value, flag) ? [flag] : [];
  } catch {
    return undefined;
  }
}

/** One option token read the pflag / Go flag way: which option, and its value when written inline. */
function parseToken(token: string, known: ReturnType<typeof lookup>): { found: Found; value?: string } | undefined {
  const long = token.startsWith("--");
  const body = token.slice(long ? 2 : 1);
  const eq = body.indexOf("=");
  const name = eq < 0 ? body : body.slice(0, eq);
  const value = eq < 0 ? undefined : body.slice(eq + 1);
  if (long) {
    const found = known.long(name);
    return found && { found, value };
  }
  // Go flag's single-dash long name wins when the command has that option (`-report_data=…`).
  const asLong = name.length > 1 ? known.long(name) : undefined;
  if (asLong) return { found: asLong, value };
  const short = known.short(body[0]!);
  if (!short) return undefined;
  if (name.length === 1) return { found: short, value };
  // `-krsa` (the value glued on) or `-vd` (grouped booleans): commander reads both as pflag does.
  return { found: short, value: takesValue(short.option) ? body.slice(1) : "" };
}

/** What commander gets for one option token, and whether the next token is its value. */
function rewrite(token: string, known: ReturnType<typeof lookup>): { tokens: string[]; valueFollows: boolean } {
  const p = parseToken(token, known);
  if (!p) return { tokens: [token], valueFollows: false };
  const { found, value } = p;
  if (value === "" && !takesValue(found.option)) return { tokens: [token], valueFollows: false }; // grouped booleans
  if (takesValue(found.option)) {
    if (value !== undefined) return { tokens: [found.flag, value], valueFollows: false };
    return { tokens: [found.flag], valueFollows: found.option.required };
  }
  if (value === undefined) return { tokens: [found.flag], valueFollows: false };
  return { tokens: boolFlag(found.flag, value) ?? [token], valueFollows: false };
}

/** The subcommand a positional names at `cmd`, if any. */
const subcommand = (cmd: Command, token: string) => cmd.commands.find((c) => c.name() === token || c.aliases().includes(token));

/** argv (without the program name) with Go flag spellings turned into commander's. */
export function normaliseGoFlags(argv: readonly string[], program: Command): string[] {
  const out: string[] = [];
  let cmd = program;
  let known = lookup(cmd);
  let positionalSeen = false; // after the first positional no token names a subcommand
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      out.push(...argv.slice(i));
      break;
    }
    if (!token.startsWith("-") || token === "-") {
      const sub = positionalSeen ? undefined : subcommand(cmd, token);
      if (sub) {
        cmd = sub;
        known = lookup(cmd);
      } else positionalSeen = true;
      out.push(token);
      continue;
    }
    const r = rewrite(token, known);
    out.push(...r.tokens);
    // An option's separate value is passed through verbatim, even when it starts with "-".
    if (r.valueFollows && i + 1 < argv.length) out.push(argv[++i]!);
  }
  return out;
}
