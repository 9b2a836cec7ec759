// Managers and their VMs (state, uptime, computation); the admin registers a manager and sees its
// token once, with the environment the manager starts with.
import { useEffect, useState } from "preact/hooks";
import { api, type Manager, type User } from "../api.ts";
import { Badge, Copyable, ErrorLine, Section, duration, useAction, when } from "../components.tsx";
import { href } from "../router.ts";

export function Managers({ me }: { me: User }) {
  const [list, setList] = useState<Manager[] | null>(null);
  const [id, setId] = useState("");
  const [description, setDescription] = useState("");
  const [issued, setIssued] = useState<{ id: string; token: string } | null>(null);
  const [error, run, busy] = useAction();
  const load = () => run(async () => setList((await api<{ managers: Manager[] }>("GET", "/api/managers")).managers));
  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), 5000); // uptimes and connection state
    return () => clearInterval(t);
  }, []);
  const register = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const r = await api<{ token: string }>("POST", "/api/managers", { id, description });
      setIssued({ id, token: r.token });
      setId("");
      setDescription("");
      await load();
    });
  };
  return (
    <main>
      <h1>Managers</h1>
      <ErrorLine error={error} />
      <Section title="Connected and registered managers">
        {list === null ? <p class="muted">Loading…</p> : list.length === 0 ? <p class="muted">No manager registered.</p> : (
          <table class="list" id="managers">
            <thead><tr><th>Manager</th><th>Link</th><th>Backend</th><th>Last seen</th><th>VMs</th></tr></thead>
            <tbody>
              {list.map((m) => (
                <tr key={m.id} data-manager={m.id}>
                  <td><strong>{m.id}</strong><div class="muted small-text">{m.description}</div></td>
                  <td><Badge status={m.connected ? "connected" : "offline"} /></td>
                  <td>{m.backend ?? "—"}{m.host ? <div class="muted small-text">{m.host}</div> : null}</td>
                  <td>{when(m.last_seen)}</td>
                  <td>
                    {m.vms.length === 0 ? <span class="muted">none</span> : (
                      <ul class="vms">
                        {m.vms.map((v) => (
                          <li>
                            <Badge status={v.state} /> up {duration(v.uptime_ms)} ·{" "}
                            {v.computation ? <a href={href.computation(v.computation.id)}>{v.computation.name}</a> : <span class="muted">a computation you do not take part in</span>}
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      {me.is_admin ? (
        <Section title="Register a manager">
          <form class="inline-form" id="register-manager" onSubmit={register}>
            <label>Id<input name="id" value={id} onInput={(e) => setId(e.currentTarget.value)} pattern="[A-Za-z0-9][A-Za-z0-9._\-]*" required /></label>
            <label class="grow">Description<input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} /></label>
            <button type="submit" disabled={busy}>Register</button>
          </form>
          {issued ? (
            <div class="notice">
              <p>Manager <strong>{issued.id}</strong> registered. Its token is shown only now: start the manager with (7001 is the default CONSOLE_GRPC_PORT)</p>
              <Copyable text={`MANAGER_GRPC_URL=${location.hostname}:7001 MANAGER_ID=${issued.id} MANAGER_CONSOLE_TOKEN=${issued.token} cocos-manager`} />
            </div>
          ) : null}
        </Section>
      ) : null}
    </main>
  );
}
