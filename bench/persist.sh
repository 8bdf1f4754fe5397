#!/usr/bin/env bash
# Persistence figures, stock redis-server against ferrodis-server on the same data:
# 1,000,000 string keys (16-byte values) loaded through `redis-cli --pipe`, then
#   - BGSAVE and BGREWRITEAOF wall time (polling INFO persistence every 10 ms) and the
#     process's peak RSS (VmHWM) after each,
#   - restart time from the AOF (appendonly yes) and from dump.rdb (appendonly no): spawn to
#     the first DBSIZE answering 1000000.
#
#   bench/persist.sh [KEYS]     (needs target/release/ferrodis-server, redis-server, redis-cli)
#
# Servers run on loopback ports of their own and are stopped by pid; data lives in mktemp dirs.
set -euo pipefail
KEYS=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FERRODIS=${FERRODIS_SERVER:-$ROOT/target/release/ferrodis-server}
REDIS=${REDIS_SERVER:-$(command -v redis-server)}
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

ms() { date +%s%3N; }
cli() { redis-cli -p "$PORT" "$@"; }
field() { cli INFO persistence | tr -d '\r' | sed -n "s/^$1://p"; }
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$PID/status"; }

start() { # binary dir appendonly
  "$1" --port "$PORT" --bind 127.0.0.1 --dir "$2" --save "" --appendonly "$3" \
    --appendfsync everysec --daemonize no --logfile "$2/log" &
  PID=$!
}
wait_keys() { # until DBSIZE answers $KEYS (LOADING answers are errors)
  until [ "$(cli DBSIZE 2>/dev/null)" = "$KEYS" ]; do sleep 0.01; done
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
wait_done() { # field
  until [ "$(field "$1")" = "0" ]; do sleep 0.01; done
}

printf '| server | BGSAVE s | RSS after BGSAVE MiB | BGREWRITEAOF s | RSS after rewrite MiB | restart from AOF s | restart from RDB s |\n'
printf '|---|---|---|---|---|---|---|\n'
for name in redis ferrodis; do
  bin=$REDIS
  [ "$name" = ferrodis ] && bin=$FERRODIS
  dir=$WORK/$name
  mkdir -p "$dir"
  PORT=$((21000 + RANDOM % 20000))
  start "$bin" "$dir" yes
  until cli PING >/dev/null 2>&1; do sleep 0.01; done
  awk -v n="$KEYS" 'BEGIN { for (i = 0; i < n; i++) printf "*3\r\n$3\r\nSET\r\n$%d\r\nkey:%d\r\n$16\r\nvalue-0123456789\r\n", length("key:" i), i }' |
    cli --pipe >/dev/null
  wait_keys
  t0=$(ms); cli BGSAVE >/dev/null; sleep 0.01; wait_done rdb_bgsave_in_progress; t1=$(ms)
  rss1=$(hwm)
  t2=$(ms); cli BGREWRITEAOF >/dev/null; sleep 0.01; wait_done aof_rewrite_in_progress; t3=$(ms)
  rss2=$(hwm)
  stop
  t4=$(ms); start "$bin" "$dir" yes; wait_keys; t5=$(ms); stop
  t6=$(ms); start "$bin" "$dir" no; wait_keys; t7=$(ms); stop
  awk -v n="$name" -v a="$t0" -v b="$t1" -v r1="$rss1" -v c="$t2" -v d="$t3" -v r2="$rss2" \
    -v e="$t4" -v f="$t5" -v g="$t6" -v h="$t7" \
    'BEGIN { printf "| %s | %.2f | %d | %.2f | %d | %.2f | %.2f |\n", n, (b-a)/1000, r1, (d-c)/1000, r2, (f-e)/1000, (h-g)/1000 }'
done
