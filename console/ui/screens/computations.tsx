// The computations the user owns or takes part in, with their latest run's state; create one.
import { useEffect, useState } from "preact/hooks";
import { api, type Computation } from "../api.ts";
import { Badge, ErrorLine, Section, useAction, when } from "../components.tsx";
import { href } from "../router.ts";

export function Computations() {
  const [list, setList] = useState<Computation[] | null>(null);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [error, run, busy] = useAction();
  const load = () => run(async () => setList((await api<{ computations: Computation[] }>("GET", "/api/computations")).computations));
  useEffect(() => void load(), []);
  const create = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const { computation } = await api<{ computation: Computation }>("POST", "/api/computations", { name, description });
      location.hash = href.computation(computation.id);
    });
  };
  return (
    <main>
      <h1>Computations</h1>
      <Section title="Yours and those you take part in">
        {list === null ? <p class="muted">Loading…</p> : list.length === 0 ? <p class="muted">None yet: create one below.</p> : (
          <table class="list" id="computations">
            <thead><tr><th>Name</th><th>Status</th><th>Role</th><th>Created</th></tr></thead>
            <tbody>
              {list.map((c) => (
                <tr key={c.id}>
                  <td><a href={href.computation(c.id)}>{c.name}</a><div class="muted small-text">{c.description}</div></td>
                  <td><Badge status={c.status} /></td>
                  <td>{c.is_owner ? "owner" : "participant"}</td>
                  <td>{when(c.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="New computation">
        <form class="inline-form" id="new-computation" onSubmit={create}>
          <label>Name<input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={200} /></label>
          <label class="grow">Description<input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} maxLength={4000} /></label>
          <button type="submit" disabled={busy}>Create</button>
        </form>
        <ErrorLine error={error} />
      </Section>
    </main>
  );
}
