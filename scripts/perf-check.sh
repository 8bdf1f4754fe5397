#!/usr/bin/env bash
# Per-request cost regression check (issue 10): runs target/release/ferrodis-server under
# valgrind's callgrind, drives a fixed workload with redis-benchmark, and compares the
# instructions executed per request (Ir, counted by callgrind: the same on a loaded or an idle
# machine, unlike requests per second) with the committed baseline bench/perf-baseline.txt.
#
#   scripts/perf-check.sh             check; exit 1 if a row costs more than baseline * (1 + tol)
#   scripts/perf-check.sh --update    rewrite the baseline with this build's figures
#
# PERF_CHECK_TOLERANCE (default 0.05) is the allowed relative increase. A row that got cheaper
# by more than the tolerance is reported too, so the baseline can be lowered (--update).
# Takes about 10 s; run-to-run noise is about 0.2%. Needs valgrind (scripts/install-deps.sh
# installs it) and redis-benchmark.
# Only the server this script starts is stopped, by its pid.
set -euo pipefail
cd "$(dirname "$0")/.."

BASELINE=bench/perf-baseline.txt
BIN=${FERRODIS_BIN:-target/release/ferrodis-server}
TOL=${PERF_CHECK_TOLERANCE:-0.05}
UPDATE=0
[ "${1:-}" = "--update" ] && UPDATE=1

log() { printf 'perf-check: %s\n' "$*" >&2; }
for tool in valgrind callgrind_control redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null 2>&1 || { log "$tool is missing (scripts/install-deps.sh)"; exit 1; }
done
[ -x "$BIN" ] || { log "$BIN not built (cargo build --release -p ferrodis-node)"; exit 1; }

# Workload rows: name, redis-benchmark test, pipeline, requests. One client, so every batch
# the server reads holds exactly `pipeline` commands and the count does not depend on timing.
ROWS=(
    "set_p16 set 16 40000"
    "get_p16 get 16 40000"
    "incr_p16 incr 16 40000"
    "get_p1 get 1 10000"
)

DIR=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT

# A free port: bind port 0 and release it (python3), else a random high port.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((30000 + RANDOM % 20000)))
valgrind --tool=callgrind --cache-sim=no --dump-instr=no \
    --callgrind-out-file="$DIR/cg.out" \
    "$BIN" --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" \
    >"$DIR/server.log" 2>&1 &
SERVER_PID=$!
deadline=$((SECONDS + 60))
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "server did not start"; tail -20 "$DIR/server.log" >&2; exit 1
    fi
    sleep 0.2
done

bench() { # test pipeline requests
    redis-benchmark -p "$PORT" -c 1 -n "$3" -r 1000 -d 16 -P "$2" -t "$1" -q >/dev/null
}

declare -A COST
dump=0
for row in "${ROWS[@]}"; do
    read -r name test pipe n <<<"$row"
    bench "$test" "$pipe" $((n / 4)) # warm-up: keys exist, buffers and tables sized
    callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
    bench "$test" "$pipe" "$n"
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    dump=$((dump + 1))
    f="$DIR/cg.out.$dump"
    for _ in $(seq 100); do [ -s "$f" ] && grep -q '^totals:' "$f" && break; sleep 0.1; done
    ir=$(awk '/^totals:/ {print $2}' "$f")
    [ -n "$ir" ] || { log "no callgrind dump for $name"; exit 1; }
    COST[$name]=$((ir / n))
done

if [ "$UPDATE" -eq 1 ]; then
    {
        echo "# Instructions per request (callgrind Ir) of scripts/perf-check.sh rows."
        echo "# Regenerate with: scripts/perf-check.sh --update"
        for row in "${ROWS[@]}"; do
            read -r name _ <<<"$row"
            echo "$name ${COST[$name]}"
        done
    } >"$BASELINE"
    log "baseline written to $BASELINE"
    cat "$BASELINE"
    exit 0
fi

[ -f "$BASELINE" ] || { log "$BASELINE missing (run with --update)"; exit 1; }
fail=0
printf '%-10s %10s %10s %8s\n' row baseline now change
for row in "${ROWS[@]}"; do
    read -r name _ <<<"$row"
    base=$(awk -v n="$name" '$1 == n {print $2}' "$BASELINE")
    now=${COST[$name]}
    if [ -z "$base" ]; then
        log "$name has no baseline (run with --update)"; fail=1; continue
    fi
    verdict=$(awk -v b="$base" -v c="$now" -v t="$TOL" 'BEGIN {
        r = c / b - 1; printf "%+.1f%% ", r * 100
        if (r > t) print "REGRESSION"; else if (r < -t) print "improved (lower the baseline: --update)"; else print "ok"
    }')
    printf '%-10s %10s %10s %s\n' "$name" "$base" "$now" "$verdict"
    case "$verdict" in *REGRESSION*) fail=1 ;; esac
done
if [ "$fail" -ne 0 ]; then
    log "instructions per request grew by more than ${TOL} (x100 %) against $BASELINE"
    exit 1
fi
log "ok"
