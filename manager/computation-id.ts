// Computation ids come from the control plane and end up in file names, log lines, maps, the agent's
// environment and (qemu) the guest kernel command line. Cocos ids are UUIDs; we accept any short
// name of that shape's characters, so each of those places has room for it.
export const MAX_COMPUTATION_ID = 128;
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** "" when `id` is a usable computation id, else why not (with the id shown safely). */
export function checkComputationId(id: string): string {
  if (id.length > MAX_COMPUTATION_ID) return `computation id: expected at most ${MAX_COMPUTATION_ID} characters, got ${id.length}`;
  if (!ID.test(id)) return `computation id: expected letters, digits, '.', '_' or '-' (a UUID, for instance), got ${JSON.stringify(id)}`;
  return "";
}
