#!/usr/bin/env bash
# Failover figures, stock redis-server against ferrodis-server, clusters built the same way:
#   - six nodes on loopback, `redis-cli --cluster create --cluster-replicas 1`, the replicas in
#     sync; the primary of a key is killed with SIGKILL; time until every live node says
#     cluster_state:ok AND a SET of that key is accepted again (polled every 20 ms), at
#     cluster-node-timeout 5000 and 1000, ROUNDS rounds each in A B A B order;
#   - full sync time of a SYNC_MB MiB dataset (1 KiB values): REPLICAOF to
#     master_link_status:up on a fresh replica (standalone, RDB sent from a non-blocking
#     snapshot).
#
#   bench/failover.sh [ROUNDS] [SYNC_MB]   (defaults 3 and 1024, 0 skips the sync; TIMEOUTS
#   env, default "5000 1000", picks the node timeouts; needs
#   target/release/ferrodis-server, redis-server, redis-cli, redis-benchmark)
#
# Servers run on loopback ports of their own, are stopped by pid, data lives in a mktemp dir.
set -euo pipefail
ROUNDS=${1:-3}
SYNC_MB=${2:-1024}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FERRODIS=${FERRODIS_SERVER:-$ROOT/target/release/ferrodis-server}
REDIS=${REDIS_SERVER:-$(command -v redis-server)}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

ms() { date +%s%3N; }
BASE=$(( 31000 + RANDOM % 2000 ))

start_node() { # binary port timeout dir [args...] -> pid in PIDS
  local bin=$1 port=$2 t=$3 dir=$4
  shift 4
  mkdir -p "$dir"
  (cd "$dir" && exec "$bin" --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" \
    --appendonly no --daemonize no --logfile "$dir/log" "$@") &
  PIDS+=($!)
}

cluster_round() { # binary timeout -> prints ms
  local bin=$1 t=$2 i ports=() dir=$WORK/c$RANDOM
  PIDS=()
  BASE=$(( BASE + 10 ))
  for i in 0 1 2 3 4 5; do
    ports+=($(( BASE + i )))
    start_node "$bin" $(( BASE + i )) "$t" "$dir/$i" --cluster-enabled yes --cluster-node-timeout "$t"
  done
  for p in "${ports[@]}"; do until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.05; done; done
  redis-cli --cluster create $(for p in "${ports[@]}"; do echo 127.0.0.1:$p; done) \
    --cluster-replicas 1 --cluster-yes >/dev/null
  # Replicas in sync and every node ok.
  until [ "$(for p in "${ports[@]}"; do redis-cli -p "$p" info replication; done | grep -c master_link_status:up)" = 3 ] &&
        [ "$(for p in "${ports[@]}"; do redis-cli -p "$p" cluster info; done | grep -c cluster_state:ok)" = 6 ]; do
    sleep 0.1
  done
  sleep 1
  local slot owner victim=-1
  slot=$(redis-cli -p "${ports[0]}" cluster keyslot failover-key)
  for i in 0 1 2 3 4 5; do
    if redis-cli -p "${ports[$i]}" cluster nodes | grep myself | grep -q master &&
       [ "$(redis-cli -p "${ports[$i]}" set failover-key x 2>&1)" = OK ]; then victim=$i; fi
  done
  local t0 t1 live=()
  for i in 0 1 2 3 4 5; do [ "$i" != "$victim" ] && live+=("${ports[$i]}"); done
  t0=$(ms)
  kill -9 "${PIDS[$victim]}"
  while true; do
    if [ "$(for p in "${live[@]}"; do redis-cli -p "$p" cluster info; done | grep -c cluster_state:ok)" = 5 ] &&
       [ "$(redis-cli -c -p "${live[0]}" set failover-key y 2>/dev/null)" = OK ]; then
      break
    fi
    if (( $(ms) - t0 > 120000 )); then echo timeout; break; fi
    sleep 0.02
  done
  t1=$(ms)
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
  echo $(( t1 - t0 ))
}

sync_round() { # binary -> prints ms
  local bin=$1 dir=$WORK/s$RANDOM p1=$(( BASE + 100 )) p2=$(( BASE + 101 ))
  PIDS=()
  start_node "$bin" "$p1" 0 "$dir/p" --repl-diskless-sync-delay 0
  start_node "$bin" "$p2" 0 "$dir/r"
  for p in $p1 $p2; do until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.05; done; done
  local keys=$(( SYNC_MB * 1024 ))
  redis-benchmark -p "$p1" -t set -d 1024 -r "$keys" -n $(( keys * 3 )) -P 64 -q >/dev/null 2>&1
  local t0 t1
  t0=$(ms)
  redis-cli -p "$p2" replicaof 127.0.0.1 "$p1" >/dev/null
  until redis-cli -p "$p2" info replication | grep -q master_link_status:up; do sleep 0.02; done
  t1=$(ms)
  local used
  used=$(redis-cli -p "$p1" info memory | tr -d '\r' | sed -n 's/^used_memory_human://p')
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
  echo "$(( t1 - t0 )) $used"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " (" a[1] "-" a[NR] ")"}'; }

printf '| node timeout | redis ms, median (min-max) | ferrodis ms, median (min-max) | ferrodis/redis time (lower is better) |\n|---|---|---|---|\n'
for t in ${TIMEOUTS:-5000 1000}; do
  r=(); f=()
  for _ in $(seq "$ROUNDS"); do
    r+=("$(cluster_round "$REDIS" "$t")")
    f+=("$(cluster_round "$FERRODIS" "$t")")
  done
  rm=$(printf '%s\n' "${r[@]}" | median); fm=$(printf '%s\n' "${f[@]}" | median)
  printf '| %s | %s | %s | %s |\n' "$t" "$rm" "$fm" \
    "$(awk -v a="${rm%% *}" -v b="${fm%% *}" 'BEGIN {printf "%.2f", b / a}')"
done
[ "$SYNC_MB" = 0 ] && exit 0
echo
printf '| full sync of %s MiB | redis ms (used_memory) | ferrodis ms (used_memory) |\n|---|---|---|\n' "$SYNC_MB"
printf '| once | %s | %s |\n' "$(sync_round "$REDIS")" "$(sync_round "$FERRODIS")"
