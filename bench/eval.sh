#!/usr/bin/env bash
# EVALSHA throughput: stock redis-server vs ferrodis-server running the same rate-limiter
# script (INCR a key, EXPIRE it on first use, compare with a limit), server pinned to CPU 0
# and redis-benchmark to CPU 1, a fresh server per run, alternating redis, ferrodis per round.
#
#   bench/eval.sh [ROUNDS] [evalsha|fcall]   (needs target/release/ferrodis-server,
#                       redis-server, redis-benchmark, redis-cli and taskset on PATH)
#
# fcall: the same body as a function of a library (FUNCTION LOAD, then FCALL).
#
# Prints one line per run: pipeline, round, requests/s of each, ratio ferrodis/redis.
# Servers run on free-ish loopback ports and are stopped by pid.
set -euo pipefail
ROUNDS=${1:-3}
MODE=${2:-evalsha}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FERRODIS=${FERRODIS_SERVER:-$ROOT/target/release/ferrodis-server}
REDIS=${REDIS_SERVER:-$(command -v redis-server)}
SCRIPT="local n = redis.call('incr', KEYS[1]) if n == 1 then redis.call('expire', KEYS[1], 60) end if n > tonumber(ARGV[1]) then return 0 end return 1"
LIBRARY="#!lua name=rl
redis.register_function('rl', function(KEYS, ARGV) $SCRIPT end)"
PID=""
DIR=$(mktemp -d)
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

run() { # binary pipeline -> requests/s
  local bin=$1 p=$2 port=$((40000 + RANDOM % 10000))
  taskset -c 0 "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" \
    >/dev/null 2>&1 &
  PID=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
  local call n
  if [ "$MODE" = fcall ]; then
    redis-cli -p "$port" function load "$LIBRARY" >/dev/null
    call=(fcall rl)
  else
    call=(evalsha "$(redis-cli -p "$port" script load "$SCRIPT")")
  fi
  n=$((p == 1 ? 150000 : 600000))
  taskset -c 1 redis-benchmark -p "$port" -c 50 -n "$n" -P "$p" -r 100000 --csv \
    "${call[@]}" 1 rl:__rand_int__ 1000000 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"'
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
}

for p in 1 16; do
  for r in $(seq "$ROUNDS"); do
    a=$(run "$REDIS" "$p"); b=$(run "$FERRODIS" "$p")
    echo "P=$p round=$r redis=$a ferrodis=$b ratio=$(python3 -c "print(round($b/$a, 2))")"
  done
done
