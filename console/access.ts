// Who may see and change what. A computation exists, for a user, only if they own it or take part in
// it: to anyone else every route answers 404, as for an id that does not exist, so ids leak nothing.
import { ApiError, notFound } from "./errors.ts";
import type { Computation, Participant, Store, User } from "./store.ts";

export interface Access {
  computation: Computation;
  isOwner: boolean;
  /** The user's own participation, if any. */
  me: Participant | null;
  participants: Participant[];
}

export async function access(store: Store, user: User, computationId: string): Promise<Access> {
  // Both at once: on PostgreSQL each is a round trip.
  const [computation, participants] = await Promise.all([store.computation(computationId), store.participants(computationId)]);
  if (!computation) throw notFound(`computation ${JSON.stringify(computationId)}`);
  const me = participants.find((p) => p.user_id === user.id) ?? null;
  const isOwner = computation.owner_id === user.id;
  if (!isOwner && !me) throw notFound(`computation ${JSON.stringify(computationId)}`);
  return { computation, isOwner, me, participants };
}

export function requireOwner(a: Access): void {
  if (!a.isOwner) throw new ApiError(403, "forbidden", "only the computation's owner may change it");
}

export async function requireNoActiveRun(store: Store, computationId: string): Promise<void> {
  const r = await store.activeRunOf(computationId);
  if (r) throw new ApiError(409, "run_active", `run ${r.id} is ${r.state}: stop it before changing the computation (its manifest would no longer match)`);
}
