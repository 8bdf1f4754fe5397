#!/usr/bin/env bash
# A local ferrodis cluster on 127.0.0.1 ports 7000.. (bus ports 17000..), usable with
# `redis-cli -c -p 7000`: a thin wrapper over `ferrodis-provision ... local`.
#
#   scripts/local-cluster.sh start   # build, start the nodes, create the cluster
#   scripts/local-cluster.sh status  # role, zone, slots and cluster_state of each node
#   scripts/local-cluster.sh stop    # stop the nodes started here (by pid file), remove their data
#
# Environment: FERRODIS_CLUSTER_DIR (default: target/local-cluster), REPLICAS (replicas per
# primary; default 1, as in the guide).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${FERRODIS_CLUSTER_DIR:-$(pwd)/target/local-cluster}
PROVISION=target/release/ferrodis-provision

case "${1:-start}" in
    start)
        cargo build --release -p ferrodis-node -p ferrodis-provision
        "$PROVISION" up local --dir "$DIR" --replicas "${REPLICAS:-1}"
        ;;
    status) "$PROVISION" status --dir "$DIR" ;;
    stop) "$PROVISION" down --dir "$DIR" ;;
    *) echo "usage: $0 [start|status|stop]" >&2; exit 2 ;;
esac
