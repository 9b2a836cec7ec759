import { DEFAULT_LIMITS, type RunLimits, type RunSpec } from "../types.ts";

/** The run's limits: the spec's overrides on top of DEFAULT_LIMITS, each checked to be a positive number. */
export function resolveLimits(spec: Pick<RunSpec, "limits">): RunLimits {
  const limits = { ...DEFAULT_LIMITS, ...spec.limits };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`limit ${name}: expected a positive number, got ${value}`);
    }
  }
  return limits;
}
