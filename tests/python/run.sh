#!/usr/bin/env bash
# Builds and starts a throwaway chainwatch server (test-only example binary) on
# 127.0.0.1 with a random port and a temporary data directory, then drives it with the
# real TAXII client (tests/python/test_taxii.py) and stops it.
# Needs: pip install taxii2-client stix2-validator pytest
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
# The dev profile: the tests just built every dependency for it (dependencies at opt-level 3).
cargo build -q -p chainwatch-server --example testserver
data="$(mktemp -d)"
creds="$data/creds.json"
"${CARGO_TARGET_DIR:-target}/debug/examples/testserver" --data "$data/node" --listen 127.0.0.1:0 \
  --galaxy ../shared/data/misp-galaxy/threat-actor.json >"$creds" 2>"$data/server.log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  [ -s "$creds" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$data/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$creds" ] || { echo "server did not start" >&2; cat "$data/server.log" >&2; exit 1; }
field() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$creds" "$1"; }
export CHAINWATCH_URL="$(field url)" CHAINWATCH_USER="$(field user)" CHAINWATCH_PASSWORD="$(field password)"
export CHAINWATCH_TOKEN="$(field token)" CHAINWATCH_OTHER_USER="$(field other_user)"
export CHAINWATCH_OTHER_PASSWORD="$(field other_password)"
echo "chainwatch test server at $CHAINWATCH_URL (pid $pid)"
"$PY" -m pytest -q tests/python/test_taxii.py
