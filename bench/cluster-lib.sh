# Shared by the cluster benchmarks (bench/cluster.sh, bench/reshard.sh), sourced after
# `set -euo pipefail`: the binaries, a work directory removed at exit (kept with KEEP=1), the
# servers started (stopped by pid at exit), free ports and a three-primary cluster.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FERRODIS=${FERRODIS_SERVER:-$ROOT/target/release/ferrodis-server}
REDIS=${REDIS_SERVER:-$(command -v redis-server)}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

USED=" "
free_port() { # a port, not yet handed out, whose bus port (port + 10000) is free too
  while :; do
    local p=$((10000 + RANDOM % 12000)) # bus ports stay below the ephemeral range (32768+)
    case "$USED" in *" $p "* | *" $((p + 10000)) "* | *" $((p - 10000)) "*) continue ;; esac
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/$((p + 10000))) 2>/dev/null; then
      USED="$USED$p "
      FREE=$p
      return
    fi
  done
}

# start_cluster NAME BIN [ARG...]: starts three nodes (the ARGs added to each command line)
# and makes them a cluster (no replicas), every node at cluster_state:ok; PORTS = their
# ports, FIRST = the first one's
start_cluster() {
  local name=$1 bin=$2 p d
  shift 2
  PORTS=()
  for _ in 0 1 2; do
    free_port
    p=$FREE
    d=$WORK/$name-$p
    mkdir -p "$d"
    "$bin" --port "$p" --bind 127.0.0.1 --dir "$d" --save "" --appendonly no \
      --cluster-enabled yes --cluster-node-timeout 5000 --daemonize no --logfile "$d/log" "$@" &
    PIDS+=($!)
    PORTS+=("$p")
  done
  for p in "${PORTS[@]}"; do
    local deadline=$((SECONDS + 30))
    until redis-cli -p "$p" PING >/dev/null 2>&1; do
      [ $SECONDS -lt $deadline ] || { echo "$name node $p did not start:" >&2; tail -5 "$WORK/$name-$p/log" >&2; exit 1; }
      sleep 0.05
    done
  done
  redis-cli --cluster create "127.0.0.1:${PORTS[0]}" "127.0.0.1:${PORTS[1]}" "127.0.0.1:${PORTS[2]}" \
    --cluster-replicas 0 --cluster-yes >"$WORK/$name-create.log" 2>&1
  local deadline=$((SECONDS + 60))
  for p in "${PORTS[@]}"; do
    until redis-cli -p "$p" CLUSTER INFO 2>/dev/null | grep -q "cluster_state:ok"; do
      [ $SECONDS -lt $deadline ] || { echo "$name cluster not ok" >&2; exit 1; }
      sleep 0.1
    done
  done
  FIRST=${PORTS[0]}
}
