#!/usr/bin/env bash
# Builds and starts a throwaway chainwatch server (test-only example binary) on
# 127.0.0.1 with a random port and a temporary data directory, then drives it with the
# real TAXII client (tests/python/test_taxii.py) and stops it — once over HTTP, then once
# over HTTPS with a private certificate authority made by the `openssl` command.
# Needs: pip install taxii2-client stix2-validator pytest; openssl
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
# The dev profile: the tests just built every dependency for it (dependencies at opt-level 3).
cargo build -q -p chainwatch-server --example testserver
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
# requests lets these override a client's own `verify` (psf/requests#3829).
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE

# Starts the server with data in $1 and extra arguments; exports its credentials.
start() {
  local data="$1"; shift
  mkdir -p "$data"
  local creds="$data/creds.json"
  "${CARGO_TARGET_DIR:-target}/debug/examples/testserver" --data "$data/node" --listen 127.0.0.1:0 \
    --galaxy ../shared/data/misp-galaxy/threat-actor.json "$@" >"$creds" 2>"$data/server.log" &
  pid=$!
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
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }

start "$work/http"
"$PY" -m pytest -q tests/python/test_taxii.py
stop

# A private CA and a certificate for 127.0.0.1 it signed.
tls="$work/tls"
mkdir -p "$tls"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=chainwatch test CA" \
  -keyout "$tls/ca-key.pem" -out "$tls/ca.pem" 2>/dev/null
openssl req "${ec[@]}" -subj "/CN=127.0.0.1" -keyout "$tls/key.pem" -out "$tls/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' \
  >"$tls/ext.cnf"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca-key.pem" -CAcreateserial \
  -days 2 -extfile "$tls/ext.cnf" -out "$tls/cert.pem" 2>/dev/null
start "$work/https" --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem"
case "$CHAINWATCH_URL" in https://*) ;; *) echo "expected an https URL: $CHAINWATCH_URL" >&2; exit 1 ;; esac
CHAINWATCH_CA="$tls/ca.pem" "$PY" -m pytest -q tests/python/test_taxii.py
