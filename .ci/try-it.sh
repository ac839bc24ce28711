#!/usr/bin/env bash
# The README's first command, as a person runs it: `npm start`, then the try-it command in
# another terminal. Waits for the tunnel's "Accepting new connections" line, not a fixed sleep.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
set -m
npm start >"$log" 2>&1 &
starter=$!
set +m
cleanup() { kill -TERM -- "-$starter" 2>/dev/null || kill -TERM "$starter" 2>/dev/null || true; wait "$starter" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
for _ in $(seq 1 300); do   # backstop: 30 s
  grep -q 'Accepting new connections' "$log" && break
  kill -0 "$starter" 2>/dev/null || { cat "$log"; echo "npm start exited early" >&2; exit 1; }
  sleep 0.1
done
grep -q 'Accepting new connections' "$log" || { cat "$log"; echo "npm start did not get ready" >&2; exit 1; }
body=$(curl -sS -k https://127.0.0.1:8443/)
echo "try-it: $body"
[ "$body" = "Hello through stunnel-ts" ] || { cat "$log"; echo "unexpected answer through the tunnel" >&2; exit 1; }
