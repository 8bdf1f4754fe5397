#!/usr/bin/env bash
# Live resharding figures, a stock Redis cluster against a ferrodis cluster built the same
# way: three primaries (redis-cli --cluster create), KEYS string keys spread evenly over the
# first SLOTS slots of the first primary (loaded with redis-cli --pipe), then
#   redis-cli --cluster reshard --cluster-from <first> --cluster-to <second>
#             --cluster-slots SLOTS --cluster-yes
# timed wall clock -> slots/s and keys/s; meanwhile a probe client sends a GET for a key of
# the slots being moved (following ASK/MOVED) and a PING to the source, back to back, and
# reports the worst latency it saw.
#
#   bench/reshard.sh [KEYS] [SLOTS]    default 1000000 4096
#                    (needs target/release/ferrodis-server, redis-server, redis-cli, python3)
#
# Servers run on loopback ports of their own (bus port = port + 10000) and are stopped by
# pid; data lives in a mktemp dir.
set -euo pipefail
KEYS=${1:-1000000}
SLOTS=${2:-4096}
. "$(dirname "$0")/cluster-lib.sh"

ms() { date +%s%3N; }

# Key generator: RESP SET commands for KEYS keys over slots 0..SLOTS-1 (a hash tag per slot).
cat >"$WORK/gen.py" <<'EOF'
import sys
keys, slots = int(sys.argv[1]), int(sys.argv[2])
def crc16(b):
    crc = 0
    for x in b:
        crc ^= x << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc
tags, n = {}, 0
while len(tags) < slots:
    t = b"t%d" % n
    s = crc16(t) & 16383
    if s < slots and s not in tags:
        tags[s] = t
    n += 1
out = sys.stdout.buffer
for i in range(keys):
    k = b"{" + tags[i % slots] + b"}:%d" % i
    v = b"value-%010d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
with open(sys.argv[3], "w") as f:
    f.write(tags[slots - 1].decode())
EOF

# Probe: GET {tag}:0 style key (following ASK/MOVED) and PING the source, until killed;
# prints the worst latency in ms on SIGTERM.
cat >"$WORK/probe.py" <<'EOF'
import signal, socket, sys, time
src, key = int(sys.argv[1]), sys.argv[2].encode()
worst, n = 0.0, 0
def stop(*_):
    print("%.1f %d" % (worst * 1000, n)); sys.stdout.flush(); sys.exit(0)
signal.signal(signal.SIGTERM, stop)
conns = {}
def conn(port):
    if port not in conns:
        s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns[port] = (s, s.makefile("rb"))
    return conns[port]
def cmd(port, *args):
    s, f = conn(port)
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    line = f.readline()
    if line[:1] == b"$" and int(line[1:]) >= 0:
        f.read(int(line[1:]) + 2)
    return line
while True:
    t0 = time.monotonic()
    port = src
    for _ in range(5):
        r = cmd(port, b"GET", key)
        if r.startswith(b"-ASK") or r.startswith(b"-MOVED"):
            port = int(r.split()[2].rsplit(b":", 1)[1])
            if r.startswith(b"-ASK"):
                cmd(port, b"ASKING")
            continue
        break
    cmd(src, b"PING")
    worst = max(worst, time.monotonic() - t0); n += 1
    time.sleep(0.001)
EOF

printf '| server | slots | keys | reshard s | slots/s | keys/s | worst probe latency ms (samples) |\n'
printf '|---|---|---|---|---|---|---|\n'
for name in redis ferrodis; do
  bin=$REDIS
  [ "$name" = ferrodis ] && bin=$FERRODIS
  start_cluster "$name" "$bin"
  ports=("${PORTS[@]}")
  # The first primary holds slots 0-5460 (create assigns them in order).
  python3 "$WORK/gen.py" "$KEYS" "$SLOTS" "$WORK/tag" | redis-cli -p "${ports[0]}" --pipe >/dev/null
  loaded=$(redis-cli -p "${ports[0]}" DBSIZE)
  [ "$loaded" = "$KEYS" ] || { echo "loaded $loaded keys, expected $KEYS" >&2; exit 1; }
  from=$(redis-cli -p "${ports[0]}" CLUSTER MYID)
  to=$(redis-cli -p "${ports[1]}" CLUSTER MYID)
  python3 "$WORK/probe.py" "${ports[0]}" "{$(cat "$WORK/tag")}:$((SLOTS - 1))" >"$WORK/$name-probe" &
  probe=$!
  sleep 0.2
  t0=$(ms)
  redis-cli --cluster reshard "127.0.0.1:${ports[0]}" --cluster-from "$from" --cluster-to "$to" \
    --cluster-slots "$SLOTS" --cluster-yes >"$WORK/$name-reshard.log" 2>&1
  t1=$(ms)
  kill -TERM "$probe"
  wait "$probe" 2>/dev/null || true
  moved=$(redis-cli -p "${ports[1]}" DBSIZE)
  [ "$moved" = "$KEYS" ] || { echo "$name: $moved keys on the target, expected $KEYS" >&2; tail "$WORK/$name-reshard.log" >&2; exit 1; }
  redis-cli --cluster check "127.0.0.1:${ports[0]}" | grep -q "\[WARNING\]\|\[ERR\]" &&
    { echo "$name: cluster check not clean" >&2; exit 1; }
  read -r worst samples <"$WORK/$name-probe"
  awk -v n="$name" -v s="$SLOTS" -v k="$KEYS" -v a="$t0" -v b="$t1" -v w="$worst" -v c="$samples" \
    'BEGIN { t = (b - a) / 1000; printf "| %s | %d | %d | %.2f | %.0f | %.0f | %s (%s) |\n", n, s, k, t, s / t, k / t, w, c }'
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
done
