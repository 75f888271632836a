#!/usr/bin/env bash
# `make bench`: the gateway's own cost against a fast local upstream, embedded (1 worker, in-memory quotas) and
# scaled out (2 workers, Redis quotas). Writes bench/RESULTS.md, bench/latency.png and bench/PROFILE.md;
# exits non-zero when any gateway answer was not a 200 (or a run broke).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=bench/out
STARTED=$(date +%s)

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench: installing ${need[*]} (Debian packages)"
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
$BIN/pip install -q --disable-pip-version-check -r bench/requirements.txt
rm -rf "$OUT" && mkdir -p "$OUT"
cp /proc/loadavg "$OUT/loadavg-start"  # the machine is shared: say how busy it was

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { $BIN/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_http() {  # URL [PID]: until the URL answers, failing if PID died or after 20 s
  for _ in $(seq 200); do
    curl -s -o /dev/null "$1" && return 0
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then echo "bench: server for $1 died" >&2; return 1; fi
    sleep 0.1
  done
  echo "bench: $1 did not answer" >&2; return 1
}

stop() {  # PID: graceful stop (gunicorn lets running calls finish), then kill after 15 s
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

UP_PORT=$(free_port)
$BIN/python bench/fast_upstream.py --port "$UP_PORT" 2> "$OUT/upstream.log" &
UP_PID=$!
PIDS+=($UP_PID)
UPSTREAM="http://127.0.0.1:$UP_PORT"
wait_http "$UPSTREAM/api/v1/key" $UP_PID

export GATEWAY_ENV=production OPENROUTER_API_KEY=sk-or-v1-bench OPENROUTER_BASE_URL="$UPSTREAM/api/v1"
JWT_SECRET_KEY=$($BIN/python -c 'import secrets; print(secrets.token_urlsafe(48))')
export JWT_SECRET_KEY RATELIMIT_ENABLED=true RATELIMIT_CHAT=10000000/minute RATELIMIT_STREAMING=10000000/minute
export MAX_CONCURRENT_PER_USER=100000  # the capacity scenarios hold up to 1,024 calls of one user
unset REDIS_URL RATELIMIT_STORAGE_URI LOG_LEVEL WEB_CONCURRENCY

run_phase() {  # MODE TIMEOUT_S: start gunicorn, measure, stop it
  local port; port=$(free_port)
  BIND="127.0.0.1:$port" $BIN/gunicorn -c gunicorn.conf.py 2> "$OUT/gateway-$1.log" &
  local master=$!
  PIDS+=($master)
  wait_http "http://127.0.0.1:$port/api/v2/openrouter/health/live" $master
  echo "bench: $1 mode, gateway pid $master on port $port"
  timeout "$2" $BIN/python bench/measure.py "$1" --upstream "$UPSTREAM" --upstream-pid "$UP_PID" \
    --gateway "http://127.0.0.1:$port" --master "$master"
  stop "$master"
}

run_phase embedded 270

# Capacity: one gevent worker (the default) beside the direct upstream and the stack's floor (bench/floor_app.py:
# a bare Flask view forwarding with requests, gthread, one worker), in the same run.
FLOOR_PORT=$(free_port)
FLOOR_UPSTREAM="$UPSTREAM" $BIN/gunicorn -k gthread --threads 32 -w 1 -b "127.0.0.1:$FLOOR_PORT" \
  bench.floor_app:app 2> "$OUT/floor.log" &
FLOOR_PID=$!
PIDS+=($FLOOR_PID)
# The same floor under the gateway's gevent worker: what the stack itself holds per call in flight.
FLOOR_GEVENT_PORT=$(free_port)
FLOOR_UPSTREAM="$UPSTREAM" $BIN/gunicorn -k gevent --worker-connections 2000 -w 1 -b "127.0.0.1:$FLOOR_GEVENT_PORT" \
  bench.floor_app:app 2> "$OUT/floor-gevent.log" &
FLOOR_GEVENT_PID=$!
PIDS+=($FLOOR_GEVENT_PID)
wait_http "http://127.0.0.1:$FLOOR_PORT/" $FLOOR_PID
wait_http "http://127.0.0.1:$FLOOR_GEVENT_PORT/" $FLOOR_GEVENT_PID
port=$(free_port)
BIND="127.0.0.1:$port" $BIN/gunicorn -c gunicorn.conf.py 2> "$OUT/gateway-capacity.log" &
master=$!
PIDS+=($master)
wait_http "http://127.0.0.1:$port/api/v2/openrouter/health/live" $master
(cd bench && timeout 600 ../$BIN/python capacity.py --upstream "$UPSTREAM" --gateway "http://127.0.0.1:$port" \
  --floor "http://127.0.0.1:$FLOOR_PORT" --floor-gevent "http://127.0.0.1:$FLOOR_GEVENT_PORT" \
  --floor-gevent-master "$FLOOR_GEVENT_PID" --master "$master")
stop "$master"
stop "$FLOOR_PID"
stop "$FLOOR_GEVENT_PID"
# Where the memory per call in flight goes: tracemalloc in a gateway worker of its own (into PROFILE.md).
(cd bench && timeout 180 ../$BIN/python memory_profile.py --upstream "$UPSTREAM" > out/memory_profile.md) ||
  echo "bench: the memory profile failed (bench/out/gateway-tracemalloc.log)" >&2

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no > "$OUT/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" WEB_CONCURRENCY=2
run_phase scaled 120
redis-cli -p "$REDIS_PORT" info stats | tr -d '\r' | grep '^total_commands_processed:' > "$OUT/redis-stats.txt" || true

$BIN/python bench/report.py --seconds $(( $(date +%s) - STARTED ))
$BIN/python bench/scale_out.py  # adds its section to RESULTS.md: memory vs Redis, 1 vs 2 workers, side by side

# The other inference APIs beside chat, and a JWKS-verified RS256 token beside HS256 (sections of RESULTS.md).
{
  echo
  echo "## /responses, /messages and /embeddings beside chat (\`bench/inference_routes.py\`, gunicorn + stand-in)"
  echo
  echo "The gateway's own time per call (\`X-Gateway-Overhead-Ms\`, upstream wait excluded), 150 calls per row."
  echo
  timeout 300 $BIN/python bench/inference_routes.py --calls 150 2>/dev/null | grep '^|'
  echo
  echo "## JWKS-verified RS256 beside HS256 (\`bench/jwks_auth.py\`, in process, median µs per request)"
  echo
  echo '```'
  timeout 120 $BIN/python bench/jwks_auth.py 500 2>/dev/null | grep -v '^{'
  echo '```'
} >> bench/RESULTS.md
