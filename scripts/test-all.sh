#!/usr/bin/env bash
# Runs every test. Starts a Docker engine for the `docker` runner tests when one is installed and not
# running (CI machines start none), and stops it again afterwards.
set -uo pipefail
cd "$(dirname "$0")/.."
started_dockerd=""
if command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  (dockerd --iptables=false --bridge=none >/tmp/cocos-dockerd.log 2>&1 &)
  for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
  started_dockerd=yes
fi
# wasmtime (the WASI reference) for the differential and conformance tests: a venv under .cache.
venv=.cache/venv-wasmtime
if ! "$venv/bin/python" -c "import wasmtime" >/dev/null 2>&1; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q wasmtime==49.0.0 || echo "test-all: cannot install wasmtime-py into $venv" >&2
fi
bun test --timeout 120000 "$@"
rc=$?
if [ -n "$started_dockerd" ]; then pkill -x dockerd || true; fi
exit $rc
