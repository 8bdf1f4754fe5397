#!/usr/bin/env bash
# TLS SET/GET throughput: stock redis-server vs ferrodis-server, both on the same certificates
# (made here with openssl: a CA and an X.509 v3 server certificate), driven by the stock
# `redis-benchmark --tls`, alternating redis, ferrodis per round.
#
#   bench/tls.sh [ROUNDS]          (needs target/release/ferrodis-server, redis-server,
#                                   redis-benchmark and openssl on PATH)
#
# Servers run on free-ish loopback ports and are stopped by pid.
set -euo pipefail
ROUNDS=${1:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FERRODIS=${FERRODIS_SERVER:-$ROOT/target/release/ferrodis-server}
REDIS=${REDIS_SERVER:-$(command -v redis-server)}
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

cd "$WORK"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=bench CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=bench" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' > ext.cnf
openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 \
  -extfile ext.cnf 2>/dev/null
TLS=(--tls --cert srv.crt --key srv.key --cacert ca.crt)

port=$((20000 + RANDOM % 20000))
start() { # binary
  "$1" --port 0 --tls-port "$port" --tls-cert-file srv.crt --tls-key-file srv.key \
    --tls-ca-cert-file ca.crt --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
    --daemonize no >"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" "${TLS[@]}" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.05
  done
  echo "server did not start:"; cat "$WORK/server.log"; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; port=$((port + 1)); }

echo "| -P | round | server | SET rps | GET rps |"
echo "|----|-------|--------|---------|---------|"
for P in 1 16; do
  N=$((P == 1 ? 100000 : 400000))
  for round in $(seq "$ROUNDS"); do
    for side in redis ferrodis; do
      if [ "$side" = redis ]; then start "$REDIS"; else start "$FERRODIS"; fi
      out=$(redis-benchmark -h 127.0.0.1 -p "$port" "${TLS[@]}" -c 50 -n "$N" -r 100000 -d 16 \
        -P "$P" -t set,get --threads 2 --csv 2>/dev/null)
      set_rps=$(echo "$out" | grep '^"SET"' | cut -d, -f2 | tr -d '"')
      get_rps=$(echo "$out" | grep '^"GET"' | cut -d, -f2 | tr -d '"')
      echo "| $P | $round | $side | $set_rps | $get_rps |"
      stop
    done
  done
done
