#!/usr/bin/env bash
# A local six-node ferrodis cluster on 127.0.0.1 ports 7000-7005 (bus ports 17000-17005),
# usable with `redis-cli -c -p 7000`.
#
#   scripts/local-cluster.sh start   # build, start six nodes, create the cluster
#   scripts/local-cluster.sh status  # redis-cli --cluster check
#   scripts/local-cluster.sh stop    # stop the nodes started here (by their pid files)
#
# Three primaries with all the slots and one replica each (`redis-cli --cluster create
# --cluster-replicas 1`), as in the deployment guides.
# Environment: FERRODIS_CLUSTER_DIR (default: target/local-cluster), NODE_TIMEOUT (ms, 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${FERRODIS_CLUSTER_DIR:-$ROOT/target/local-cluster}
PORTS=(7000 7001 7002 7003 7004 7005)
NODE_TIMEOUT=${NODE_TIMEOUT:-5000}
BIN=$ROOT/target/release/ferrodis-server

wait_for() { # seconds, description, command...
    local deadline=$(( $(date +%s) + $1 )) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if (( $(date +%s) >= deadline )); then
            echo "timed out waiting for $what" >&2
            return 1
        fi
        sleep 0.2
    done
}

joined() { # every node knows all six nodes, none in handshake, and says cluster_state:ok
    local p
    for p in "${PORTS[@]}"; do
        [ "$(redis-cli -p "$p" cluster nodes | grep -vc handshake)" = 6 ] || return 1
        redis-cli -p "$p" cluster info | grep -q cluster_state:ok || return 1
    done
}

agreed() { # the first $1 nodes know each other
    local n=$1 p
    for p in "${PORTS[@]:0:$n}"; do
        [ "$(redis-cli -p "$p" cluster nodes | grep -v handshake | grep -c ' connected')" = "$n" ] || return 1
    done
}

start() {
    command -v redis-cli >/dev/null || { echo "redis-cli is needed (scripts/install-deps.sh)" >&2; exit 1; }
    cargo build --release -p ferrodis-node
    mkdir -p "$DIR"
    local p
    for p in "${PORTS[@]}"; do
        if [ -f "$DIR/$p/ferrodis.pid" ] && kill -0 "$(cat "$DIR/$p/ferrodis.pid")" 2>/dev/null; then
            echo "node $p already running (scripts/local-cluster.sh stop first)" >&2
            exit 1
        fi
        rm -rf "${DIR:?}/$p"
        mkdir -p "$DIR/$p"
        "$BIN" --port "$p" --bind 127.0.0.1 --dir "$DIR/$p" --cluster-enabled yes \
            --cluster-node-timeout "$NODE_TIMEOUT" --save "" --appendonly no \
            --logfile "$DIR/$p/ferrodis.log" --pidfile "$DIR/$p/ferrodis.pid" --daemonize yes
    done
    for p in "${PORTS[@]}"; do
        wait_for 10 "node $p" redis-cli -p "$p" ping
    done
    redis-cli --cluster create 127.0.0.1:7000 127.0.0.1:7001 127.0.0.1:7002 \
        127.0.0.1:7003 127.0.0.1:7004 127.0.0.1:7005 --cluster-replicas 1 --cluster-yes
    wait_for 30 "all six nodes to join" joined
    redis-cli --cluster check 127.0.0.1:7000
    echo "cluster ready: redis-cli -c -p 7000"
}

stop() {
    local p pid
    for p in "${PORTS[@]}"; do
        if [ -f "$DIR/$p/ferrodis.pid" ]; then
            pid=$(cat "$DIR/$p/ferrodis.pid")
            kill "$pid" 2>/dev/null && echo "stopped node $p (pid $pid)" || true
            rm -f "$DIR/$p/ferrodis.pid"
        fi
    done
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) redis-cli --cluster check 127.0.0.1:7000 ;;
    *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
