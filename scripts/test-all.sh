#!/usr/bin/env bash
# Runs every test. Starts a Docker engine for the `docker` runner tests when one is installed and not
# running (CI machines start none), and stops it again afterwards. Likewise a PostgreSQL server for
# the console's store tests (role and password `cocos`, found through COCOS_TEST_POSTGRES_URL).
set -uo pipefail
cd "$(dirname "$0")/.."
started_dockerd=""
if command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  (dockerd --iptables=false --bridge=none >/tmp/cocos-dockerd.log 2>&1 &)
  for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
  started_dockerd=yes
fi
started_postgres=""
if [ -z "${COCOS_TEST_POSTGRES_URL:-}" ] && command -v pg_lsclusters >/dev/null 2>&1; then
  cluster=$(pg_lsclusters -h 2>/dev/null | head -n1)
  # A fresh install in a container may have no cluster yet: make the default one.
  if [ -z "$cluster" ] && [ -d /usr/lib/postgresql ]; then
    pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -n1)" main >/dev/null 2>&1 || true
    cluster=$(pg_lsclusters -h 2>/dev/null | head -n1)
  fi
  if [ -n "$cluster" ]; then
    read -r pg_version pg_name pg_port pg_status _ <<<"$cluster"
    if [ "$pg_status" != "online" ]; then
      pg_ctlcluster "$pg_version" "$pg_name" start && started_postgres="$pg_version $pg_name"
    fi
    pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "psql -p $pg_port -tAc \"$1\""; else sudo -u postgres psql -p "$pg_port" -tAc "$1"; fi; }
    if [ "$(pg "select 1 from pg_roles where rolname='cocos'" 2>/dev/null)" != "1" ]; then
      pg "create user cocos password 'cocos' superuser" >/dev/null
    fi
    export COCOS_TEST_POSTGRES_URL="postgres://cocos:cocos@127.0.0.1:${pg_port}/postgres"
  fi
fi
# wasmtime (the WASI reference) for the differential and conformance tests: a venv under .cache.
venv=.cache/venv-wasmtime
if ! "$venv/bin/python" -c "import wasmtime" >/dev/null 2>&1; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q wasmtime==49.0.0 || echo "test-all: cannot install wasmtime-py into $venv" >&2
fi
# The comparisons with wasmtime must run here, not skip.
export COCOS_REQUIRE_WASMTIME=1
bun test --timeout 120000 "$@"
rc=$?
if [ -n "$started_dockerd" ]; then pkill -x dockerd || true; fi
if [ -n "$started_postgres" ]; then pg_ctlcluster $started_postgres stop || true; fi
exit $rc
