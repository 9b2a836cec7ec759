// The console's web UI: log in, then computations, managers and the attestation page (hash routes).
// Bundled by build.ts into dist/app.js; the console's CSP allows only this file and app.css.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { UNAUTHORIZED, api, type User } from "./api.ts";
import { href, useRoute } from "./router.ts";
import { Attestation } from "./screens/attestation.tsx";
import { Upload } from "./screens/upload.tsx";
import { ComputationPage } from "./screens/computation.tsx";
import { Computations } from "./screens/computations.tsx";
import { Login } from "./screens/login.tsx";
import { Managers } from "./screens/managers.tsx";

function App() {
  const [me, setMe] = useState<User | null | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    api<{ user: User }>("GET", "/api/me").then((r) => setMe(r.user), () => setMe(null)); // 401: not logged in
    const out = () => setMe(null);
    addEventListener(UNAUTHORIZED, out);
    return () => removeEventListener(UNAUTHORIZED, out);
  }, []);
  if (me === undefined) return <p class="muted center">Loading…</p>;
  if (me === null) return <Login onIn={setMe} />;
  const logout = async () => {
    await api("POST", "/api/auth/logout").catch(() => {});
    setMe(null);
  };
  return (
    <>
      <header class="top">
        <a class="brand" href={href.computations()}>Cocos console</a>
        <nav>
          <a class={route.page === "computations" || route.page === "computation" ? "active" : ""} href={href.computations()}>Computations</a>
          <a class={route.page === "managers" ? "active" : ""} href={href.managers()}>Managers</a>
        </nav>
        <span class="who">{me.username}{me.is_admin ? " (admin)" : ""}</span>
        <button class="small ghost" id="logout" onClick={() => void logout()}>Log out</button>
      </header>
      {route.page === "computation" ? <ComputationPage id={route.id} /> :
        route.page === "managers" ? <Managers me={me} /> :
        route.page === "attestation" ? <Attestation runId={route.runId} /> :
        route.page === "upload" ? <Upload runId={route.runId} /> :
        <Computations />}
    </>
  );
}

render(<App />, document.getElementById("app")!);
