// Attested-TLS channel credentials for AGENT_GRPC_ATTESTED_TLS=true.
import type { AttestedCredentialsFactory } from "./agent-client.ts";
import { CliError } from "./errors.ts";

export const attestedCredentials: AttestedCredentialsFactory = async () => {
  throw new CliError("attested TLS: this build has no attested-TLS client yet (attestation/ aTLS pending)");
};
