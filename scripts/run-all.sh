#!/usr/bin/env bash
# Start Hearth's processes in the foreground: the ASGI server (HTTP + WebSocket + static
# files), one Celery worker and Celery beat. Ctrl-C (or any one of them dying) stops all.
set -uo pipefail
cd "$(dirname "$0")/.."

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
BIN=.venv/bin

# shellcheck source=scripts/processes.sh
source scripts/processes.sh
stop() { stop_processes Hearth 50; }
trap stop INT TERM EXIT

"$BIN/uvicorn" config.asgi:application --host "$HOST" --port "$PORT" --no-access-log --lifespan off &
pids+=($!)
"$BIN/celery" -A config worker --loglevel INFO --concurrency 2 --hostname "worker@%h" &
pids+=($!)
"$BIN/celery" -A config beat --loglevel INFO &
pids+=($!)

# Print the address once the server answers (it is the last to be ready to use).
for _ in $(seq 1 60); do
  "$BIN/python" - "http://$HOST:$PORT/healthz" >/dev/null 2>&1 <<'PY' && break
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1)
PY
  sleep 0.5
done
cat <<MSG

  Hearth is running at http://$HOST:$PORT/
  Demo logins (password: hearth-demo-password):
    alice@example.com    member
    bob@example.com      facilitator
    charlie@example.com  outsider
    admin@example.com    site admin (also /admin/)
  Email is written to var/mail/. Press Ctrl-C to stop everything.

MSG

# Stop everything as soon as any one process exits.
wait -n
