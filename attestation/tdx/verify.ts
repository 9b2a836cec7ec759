// TDX quote verification on the server: the checks of checks.ts run with node:crypto. Never throws.
import { guard, type Verdict } from "../verdict.ts";
import { runSync, type CryptoBackend } from "../crypto/backend.ts";
import { nodeBackend } from "../crypto/node.ts";
import { tdxChecks, verifyTdxWith, type TdxVerifyOptions } from "./checks.ts";

export { tdxClaims, DEFAULT_ACCEPTED_TCB, type TdxVerifyOptions } from "./checks.ts";

export function verifyTdx(quote: Uint8Array, opts: TdxVerifyOptions = {}): Verdict {
  return guard("tdx", (c) => runSync(tdxChecks(c, quote, opts, nodeBackend), nodeBackend));
}

/** The same checks with another (e.g. WebCrypto) backend; equal verdicts to verifyTdx for equal inputs. */
export function verifyTdxAsync(quote: Uint8Array, opts: TdxVerifyOptions = {}, backend: CryptoBackend = nodeBackend): Promise<Verdict> {
  return verifyTdxWith(quote, opts, backend);
}
