// Hash routes (#/computations/ID): the console serves index.html for every path, but a hash keeps
// the page's own links independent of where the console is mounted.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { page: "computations" }
  | { page: "computation"; id: string }
  | { page: "managers" }
  | { page: "attestation"; runId: string }
  | { page: "upload"; runId: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "computations" && parts[1]) return { page: "computation", id: parts[1] };
  if (parts[0] === "managers") return { page: "managers" };
  if (parts[0] === "runs" && parts[1] && parts[2] === "attestation") return { page: "attestation", runId: parts[1] };
  if (parts[0] === "runs" && parts[1] && parts[2] === "upload") return { page: "upload", runId: parts[1] };
  return { page: "computations" };
}

export const href = {
  computations: () => "#/",
  computation: (id: string) => `#/computations/${encodeURIComponent(id)}`,
  managers: () => "#/managers",
  attestation: (runId: string) => `#/runs/${encodeURIComponent(runId)}/attestation`,
  upload: (runId: string) => `#/runs/${encodeURIComponent(runId)}/upload`,
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}
