#!/usr/bin/env bash
# Peak memory of a replica during a full sync, and of a restart that loads the snapshot it
# kept (dump.rdb): the same ferrodis primary (KEYS keys of 100 B, default 1,000,000) serves
# each replica binary given, one at a time; a replica's peak is VmHWM from /proc/<pid>/status.
#
#   bench/sync-memory.sh [REPLICA_BIN...]    default: target/release/ferrodis-server and
#                                            redis-server
#   KEYS=200000 bench/sync-memory.sh
#
# Prints one line per binary: keys synced, peak and current RSS after the sync, the size of
# the RDB file kept, the sync's duration, and the peak RSS of a restart loading that file.
# Servers run on free loopback ports, are stopped by pid; data in a mktemp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${KEYS:-1000000}
PRIMARY=${PRIMARY:-target/release/ferrodis-server}
[ $# -gt 0 ] || set -- target/release/ferrodis-server "$(command -v redis-server)"
DIR=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { # port
    for _ in $(seq 300); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "server on port $1 did not start" >&2; exit 1
}
hwm() { awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }

mkdir "$DIR/primary"
PP=$(free_port)
"$PRIMARY" --port "$PP" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR/primary" \
    --repl-diskless-sync-delay 0 --enable-debug-command yes >"$DIR/primary/log" 2>&1 &
PIDS+=($!)
wait_up "$PP"
redis-cli -p "$PP" debug populate "$KEYS" key 100 >/dev/null
echo "primary: $(redis-cli -p "$PP" dbsize) keys, $(redis-cli -p "$PP" info memory | tr -d '\r' | grep '^used_memory_human:')"
n=0
for bin in "$@"; do
    n=$((n + 1))
    d="$DIR/replica$n"
    mkdir "$d"
    RP=$(free_port)
    "$bin" --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --dir "$d" >"$d/log" 2>&1 &
    R=$!
    PIDS+=("$R")
    wait_up "$RP"
    start=$(date +%s.%N)
    redis-cli -p "$RP" replicaof 127.0.0.1 "$PP" >/dev/null
    for _ in $(seq 6000); do
        redis-cli -p "$RP" info replication | tr -d '\r' | grep -q '^master_link_status:up' && break
        sleep 0.05
    done
    secs=$(echo "$(date +%s.%N) - $start" | bc)
    line="$(basename "$bin"): $(redis-cli -p "$RP" dbsize) keys, sync ${secs%???????} s, peak $(hwm "$R"), now $(rss "$R")"
    size=$(stat -c %s "$d/dump.rdb" 2>/dev/null || echo 0)
    kill "$R"; wait "$R" 2>/dev/null || true
    if [ "$size" -gt 0 ]; then
        "$bin" --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --dir "$d" >"$d/log2" 2>&1 &
        R=$!
        PIDS+=("$R")
        wait_up "$RP"
        for _ in $(seq 6000); do
            redis-cli -p "$RP" dbsize 2>/dev/null | grep -q '^[1-9]' && break
            sleep 0.05
        done
        line="$line; dump.rdb $((size / 1048576)) MiB, restart peak $(hwm "$R")"
        kill "$R"; wait "$R" 2>/dev/null || true
    else
        line="$line; no dump.rdb kept"
    fi
    echo "$line"
done
