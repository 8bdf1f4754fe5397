#!/usr/bin/env bash
# Cluster throughput (issue 10): a three-primary cluster on loopback, stock Redis against
# ferrodis built the same way (`redis-cli --cluster create`, no replicas), driven by
#   redis-benchmark --cluster -h 127.0.0.1 -p <first> -c 50 -n N -d 16 -r 100000 -P P -t TEST
# Unpinned: the three servers and redis-benchmark share the machine, the same for both.
# ROUNDS rounds; in each, every row runs on the Redis cluster, then on the ferrodis cluster
# (both clusters stay up for the whole run). Prints a markdown table: median (min-max) rps,
# ratio ferrodis/redis per round (median, min-max), and median p50/p99 in ms.
#
#   bench/cluster.sh [ROUNDS] [N]     default 3 rounds, 1000000 requests per -P 16 run
#                                     (N/8 for -P 1)
#   TESTS="set get" PIPELINES="1 16" bench/cluster.sh
#
# Every node of both clusters gets `--io-threads $IO_THREADS` (default 1, Redis's default):
# three nodes share the machine's CPUs, so a ferrodis node takes one worker thread, as an
# operator running several nodes per machine would set it (without the directive a ferrodis
# node runs one worker per CPU: six threads on two CPUs here). IO_THREADS=2 gives Redis
# its threaded I/O and ferrodis two workers per node.
#
# Needs target/release/ferrodis-server, redis-server, redis-cli, redis-benchmark. Servers run
# on free loopback ports (bus port = port + 10000), are stopped by pid, data in a mktemp dir.
set -euo pipefail
ROUNDS=${1:-3}
N=${2:-1000000}
TESTS=${TESTS:-set get incr}
PIPELINES=${PIPELINES:-1 16}
IO_THREADS=${IO_THREADS:-1}
. "$(dirname "$0")/cluster-lib.sh"

# run PORT TEST P N -> "rps p50 p99"
run() {
  redis-benchmark --cluster -h 127.0.0.1 -p "$1" -c 50 -n "$4" -d 16 -r 100000 -P "$3" -t "$2" --csv 2>/dev/null |
    awk -F'","' '$1 != "\"test" && NF >= 8 { gsub(/"/, "", $2); gsub(/"/, "", $5); gsub(/"/, "", $7); print $2, $5, $7; exit }'
}

start_cluster redis "$REDIS" --io-threads "$IO_THREADS"
R=$FIRST
start_cluster ferrodis "$FERRODIS" --io-threads "$IO_THREADS"
F=$FIRST
# Warm-up: keys exist on both, connections and tables sized.
for t in $TESTS; do run "$R" "$t" 16 200000 >/dev/null; run "$F" "$t" 16 200000 >/dev/null; done

declare -A RES
for round in $(seq "$ROUNDS"); do
  for t in $TESTS; do
    for p in $PIPELINES; do
      n=$N
      [ "$p" -eq 1 ] && n=$((N / 8))
      RES[$t,$p,redis,$round]=$(run "$R" "$t" "$p" "$n")
      RES[$t,$p,ferrodis,$round]=$(run "$F" "$t" "$p" "$n")
    done
  done
done

median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
minmax() { sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s-%s", lo, hi}'; }
fmt_k() { awk -v x="$1" 'BEGIN { if (x >= 1e6) printf "%.2fM", x / 1e6; else printf "%.1fk", x / 1e3 }'; }
minmax_k() { sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo, hi}' | { read -r lo hi; echo "$(fmt_k "$lo")-$(fmt_k "$hi")"; }; }

echo "- Host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "- Command: \`bench/cluster.sh $ROUNDS $N\` (TESTS=\"$TESTS\" PIPELINES=\"$PIPELINES\" IO_THREADS=$IO_THREADS)"
echo
echo "| test | -P | -n | redis rps | ferrodis rps | ratio f/r | p50 redis / ferrodis ms | p99 redis / ferrodis ms |"
echo "|---|---|---|---|---|---|---|---|"
for t in $TESTS; do
  for p in $PIPELINES; do
    n=$N
    [ "$p" -eq 1 ] && n=$((N / 8))
    rr=() fr=() ratios=() rp50=() fp50=() rp99=() fp99=()
    for round in $(seq "$ROUNDS"); do
      read -r a ap50 ap99 <<<"${RES[$t,$p,redis,$round]}"
      read -r b bp50 bp99 <<<"${RES[$t,$p,ferrodis,$round]}"
      rr+=("$a") fr+=("$b") rp50+=("$ap50") fp50+=("$bp50") rp99+=("$ap99") fp99+=("$bp99")
      ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')")
    done
    rm_=$(printf '%s\n' "${rr[@]}" | median)
    fm_=$(printf '%s\n' "${fr[@]}" | median)
    printf '| %s | %s | %s | %s (%s) | %s (%s) | %s (%s) | %s / %s | %s / %s |\n' \
      "$(echo "$t" | tr a-z A-Z)" "$p" "$n" \
      "$(fmt_k "$rm_")" "$(printf '%s\n' "${rr[@]}" | minmax_k)" \
      "$(fmt_k "$fm_")" "$(printf '%s\n' "${fr[@]}" | minmax_k)" \
      "$(printf '%s\n' "${ratios[@]}" | median)" "$(printf '%s\n' "${ratios[@]}" | minmax)" \
      "$(printf '%s\n' "${rp50[@]}" | median)" "$(printf '%s\n' "${fp50[@]}" | median)" \
      "$(printf '%s\n' "${rp99[@]}" | median)" "$(printf '%s\n' "${fp99[@]}" | median)"
  done
done
