// Pinned trust anchors. AMD ARK/ASK/ASVK per product (from AMD KDS `cert_chain`, as shipped by
// google/go-sev-guest verify/trust/) and the Intel SGX Root CA. The ASVK for Genoa/Turin is not
// shipped here (no copy at hand); VLEK-signed reports on those products need `roots` overrides.
import milanArk from "./amd_milan_ark.pem" with { type: "text" };
import milanAsk from "./amd_milan_ask.pem" with { type: "text" };
import milanAsvk from "./amd_milan_asvk.pem" with { type: "text" };
import genoaArk from "./amd_genoa_ark.pem" with { type: "text" };
import genoaAsk from "./amd_genoa_ask.pem" with { type: "text" };
import turinArk from "./amd_turin_ark.pem" with { type: "text" };
import turinAsk from "./amd_turin_ask.pem" with { type: "text" };
import intelRoot from "./intel_sgx_root_ca.pem" with { type: "text" };

export interface AmdRoots {
  ark: string;
  ask: string;
  asvk?: string;
}

export const AMD_ROOTS: Record<"Milan" | "Genoa" | "Turin", AmdRoots> = {
  Milan: { ark: milanArk, ask: milanAsk, asvk: milanAsvk },
  Genoa: { ark: genoaArk, ask: genoaAsk },
  Turin: { ark: turinArk, ask: turinAsk },
};

export const INTEL_SGX_ROOT_PEM: string = intelRoot;
