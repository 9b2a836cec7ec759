// Console benchmark, on SQLite and (when a server is given) on PostgreSQL, the console running as
// its own process: API latency (p50/p99) for the computations list and a computation's detail under
// 50 concurrent clients, and timeline events ingested per second from 10 managers streaming at once
// (stored and readable through the API). `bun run bench -- console`
// (BENCH_CONSOLE_REQUESTS per client, default 100; BENCH_CONSOLE_EVENTS per manager, default 5000;
// PostgreSQL from BENCH_POSTGRES_URL or COCOS_TEST_POSTGRES_URL, skipped when neither is set).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { generateKeyPair } from "../protocol/keys.ts";
import { FakeManager } from "../console/testkit.ts";
import { ConsoleClient } from "../scripts/console.ts";
import { Program, freePort } from "../scripts/iris-workflow.ts";

const root = resolve(import.meta.dir, "..");
const CLIENTS = 50;
const MANAGERS = 10;
const TARGET_P99_MS = 50;
const TARGET_EVENTS_PER_S = 5000;
const envInt = (name: string, def: number) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(process.env[name])}`);
  return v;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 100) / 100;
};

async function freshPostgres(url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `cocos_bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = new Bun.SQL(url);
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.close();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const a = new Bun.SQL(url);
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.close();
    },
  };
}

async function benchOne(db: string, requestsPerClient: number, eventsPerManager: number) {
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [join(root, "console", "main.ts")], {
    env: { ...process.env, CONSOLE_DB: db, CONSOLE_HTTP_PORT: String(httpPort), CONSOLE_GRPC_PORT: String(grpcPort) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const program = new Program("console", child, () => {});
  const managers: FakeManager[] = [];
  try {
    await program.waitFor(/"console listening"/, 30_000);
    const url = `http://127.0.0.1:${httpPort}`;
    const owner = await ConsoleClient.register(url, "owner", "owner-password");
    const party = await ConsoleClient.register(url, "party", "party-password");
    const pem = generateKeyPair("ed25519").publicPem;

    // 10 managers, each with a run of its own computation (3 participants with keys, 2 assets) …
    const computations: string[] = [];
    for (let i = 0; i < 50; i++) {
      const c = (await owner.call("POST", "/api/computations", { name: `computation ${i}`, description: "bench" })).computation;
      const ids: number[] = [];
      for (const [who, role] of [["owner", "data_provider"], ["party", "algorithm_provider"]] as const) {
        ids.push((await owner.call("POST", `/api/computations/${c.id}/participants`, { username: who, role })).participant.id);
      }
      await owner.call("PUT", `/api/computations/${c.id}/participants/${ids[0]}/key`, { public_key: pem });
      await party.call("PUT", `/api/computations/${c.id}/participants/${ids[1]}/key`, { public_key: pem });
      await party.call("POST", `/api/computations/${c.id}/assets`, { kind: "algorithm", filename: "algo.wasm", sha3_256: "a".repeat(64) });
      await owner.call("POST", `/api/computations/${c.id}/assets`, { kind: "dataset", filename: "data.csv", sha3_256: "b".repeat(64) });
      computations.push(c.id);
    }
    const consumer = await ConsoleClient.register(url, "consumer", "consumer-password");
    for (const id of computations) {
      const p = (await owner.call("POST", `/api/computations/${id}/participants`, { username: "consumer", role: "result_consumer" })).participant;
      await consumer.call("PUT", `/api/computations/${id}/participants/${p.id}/key`, { public_key: pem });
    }
    for (let m = 0; m < MANAGERS; m++) {
      const { token } = await owner.call("POST", "/api/managers", { id: `m${m}` });
      managers.push(new FakeManager(`127.0.0.1:${grpcPort}`, `m${m}`, token).connect());
    }
    for (let i = 0; i < 100 && (await owner.call("GET", "/api/managers")).managers.some((m: { connected: boolean }) => !m.connected); i++) await Bun.sleep(50);
    for (let m = 0; m < MANAGERS; m++) await owner.call("POST", `/api/computations/${computations[m]}/runs`, { manager_id: `m${m}` });

    // … API latency: 50 clients, alternating list and detail, after a warm-up round (JIT, pools) that is not counted.
    const lat = { list: [] as number[], detail: [] as number[] };
    const clients = (requests: number, record: boolean) =>
      Promise.all(
        Array.from({ length: CLIENTS }, async (_, k) => {
          for (let i = 0; i < requests; i++) {
            const detail = (i + k) % 2 === 1;
            const path = detail ? `/api/computations/${computations[(i * 7 + k) % computations.length]}` : "/api/computations";
            const s = performance.now();
            const r = await fetch(url + path, { headers: { authorization: `Bearer ${owner.token}` } });
            await r.arrayBuffer();
            if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
            if (record) (detail ? lat.detail : lat.list).push(performance.now() - s);
          }
        }),
      );
    await clients(10, false);
    const t0 = performance.now();
    await clients(requestsPerClient, true);
    const apiSeconds = (performance.now() - t0) / 1000;

    // … events: every manager streams its events at once; done when all are readable through the API.
    const e0 = performance.now();
    for (let j = 0; j < eventsPerManager; j++) {
      for (let m = 0; m < MANAGERS; m++) managers[m]!.event(computations[m]!, "Running", "InProgress", "agent", `event ${j}`);
      if (j % 500 === 499) await Bun.sleep(0);
    }
    const want = eventsPerManager + 1; // + the console's own "run started" note
    const seen = new Array(MANAGERS).fill(0);
    const after = new Array(MANAGERS).fill(0);
    for (let round = 0; round < 2000 && seen.some((s) => s < want); round++) {
      for (let m = 0; m < MANAGERS; m++) {
        if (seen[m] >= want) continue;
        const page = await owner.call("GET", `/api/computations/${computations[m]}/events?after=${after[m]}&limit=1000`);
        seen[m] += page.events.length;
        if (page.events.length) after[m] = page.events[page.events.length - 1].id;
        if (page.events.length === 0) await Bun.sleep(5);
      }
    }
    const eventSeconds = (performance.now() - e0) / 1000;
    const total = seen.reduce((a, b) => a + b, 0) - MANAGERS;
    if (total < MANAGERS * eventsPerManager) throw new Error(`only ${total} of ${MANAGERS * eventsPerManager} events arrived`);
    return {
      api: {
        clients: CLIENTS, requests: lat.list.length + lat.detail.length, requests_per_s: Math.round((lat.list.length + lat.detail.length) / apiSeconds),
        list_ms: { p50: pct(lat.list, 50), p99: pct(lat.list, 99) }, detail_ms: { p50: pct(lat.detail, 50), p99: pct(lat.detail, 99) },
        computations: computations.length,
      },
      events: { managers: MANAGERS, events: total, seconds: Math.round(eventSeconds * 100) / 100, per_s: Math.round(total / eventSeconds) },
    };
  } finally {
    for (const m of managers) m.close();
    await program.stop();
  }
}

export async function run(): Promise<object> {
  const requests = envInt("BENCH_CONSOLE_REQUESTS", 100);
  const events = envInt("BENCH_CONSOLE_EVENTS", 5000);
  const dir = mkdtempSync(join(tmpdir(), "bench-console-"));
  const out: Record<string, unknown> = { targets: { p99_ms: TARGET_P99_MS, sqlite_events_per_s: TARGET_EVENTS_PER_S } };
  try {
    const sqlite = await benchOne(`sqlite:${join(dir, "console.db")}`, requests, events);
    out.sqlite = { ...sqlite, meets_targets: Math.max(sqlite.api.list_ms.p99, sqlite.api.detail_ms.p99) <= TARGET_P99_MS && sqlite.events.per_s >= TARGET_EVENTS_PER_S };
    console.log("sqlite", JSON.stringify(out.sqlite));
    const pg = process.env.BENCH_POSTGRES_URL || process.env.COCOS_TEST_POSTGRES_URL;
    if (pg) {
      const fresh = await freshPostgres(pg);
      try {
        const r = await benchOne(fresh.url, requests, events);
        out.postgres = { ...r, meets_p99: Math.max(r.api.list_ms.p99, r.api.detail_ms.p99) <= TARGET_P99_MS };
        console.log("postgres", JSON.stringify(out.postgres));
      } finally {
        await fresh.drop();
      }
    } else out.postgres = "skipped: set BENCH_POSTGRES_URL (or COCOS_TEST_POSTGRES_URL)";
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
