// Log in or register (the first account becomes the admin).
import { useState } from "preact/hooks";
import { api, type User } from "../api.ts";
import { ErrorLine, useAction } from "../components.tsx";

export function Login({ onIn }: { onIn: (u: User) => void }) {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, run, busy] = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await api("POST", `/api/auth/${mode}`, { username, password });
      onIn((await api<{ user: User }>("GET", "/api/me")).user);
    });
  };
  return (
    <main class="login">
      <h1>Cocos console</h1>
      <p class="muted">Confidential computations: who takes part, what runs, and proof of where it runs.</p>
      <form class="card" onSubmit={submit}>
        <div class="tabs">
          <button type="button" class={mode === "login" ? "tab active" : "tab"} onClick={() => setMode("login")}>Log in</button>
          <button type="button" id="to-register" class={mode === "register" ? "tab active" : "tab"} onClick={() => setMode("register")}>Register</button>
        </div>
        <label>User name<input name="username" autocomplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required /></label>
        <label>Password<input name="password" type="password" autocomplete={mode === "login" ? "current-password" : "new-password"} value={password} onInput={(e) => setPassword(e.currentTarget.value)} required /></label>
        <ErrorLine error={error} />
        <button type="submit" id="submit-login" disabled={busy}>{mode === "login" ? "Log in" : "Create account"}</button>
      </form>
    </main>
  );
}
