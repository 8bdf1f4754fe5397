#!/bin/sh
# Host bootstrap of one ferrodis node, the same for every host target: ferrodis-provision
# runs it over ssh on EC2 and with `ip netns exec` for the netns target.
#
#   bootstrap.sh STAGING [ROOT]
#
# STAGING holds what the tool delivered: ferrodis-server, redis.conf, users.acl (ACL
# deployments), tls/ca.crt, tls/node.crt, tls/node.key (TLS deployments). ROOT prefixes
# every host path (empty on a real host; the host's directory for netns). Files are
# installed only when they changed; the node is (re)started when anything changed or it
# is not running. FERRODIS_SUPERVISOR: systemd (default on a real host with systemctl) or
# daemon (the config says `daemonize yes` and names the pid file).
set -eu
STAGING=$1
ROOT=${2:-}
ETC=$ROOT/etc/ferrodis
LIB=$ROOT/var/lib/ferrodis
LOG=$ROOT/var/log/ferrodis
RUN=$ROOT/run/ferrodis
BIN=$ROOT/usr/local/bin/ferrodis-server
if [ -z "${FERRODIS_SUPERVISOR:-}" ]; then
    if [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1; then
        FERRODIS_SUPERVISOR=systemd
    else
        FERRODIS_SUPERVISOR=daemon
    fi
fi

umask 022
mkdir -p "$ETC/tls" "$LIB" "$LOG" "$RUN" "$(dirname "$BIN")"
changed=0
install_file() { # source destination mode
    [ -f "$1" ] || return 0
    if ! cmp -s "$1" "$2"; then
        cp "$1" "$2.new"
        chmod "$3" "$2.new"
        mv "$2.new" "$2"
        changed=1
        echo "installed $2"
    fi
}
install_file "$STAGING/ferrodis-server" "$BIN" 0755
install_file "$STAGING/redis.conf" "$ETC/redis.conf" 0600
install_file "$STAGING/users.acl" "$ETC/users.acl" 0600
install_file "$STAGING/tls/ca.crt" "$ETC/tls/ca.crt" 0644
install_file "$STAGING/tls/node.crt" "$ETC/tls/node.crt" 0644
install_file "$STAGING/tls/node.key" "$ETC/tls/node.key" 0600

# Kernel settings Redis recommends. The backlog is per network namespace; memory
# overcommit and transparent huge pages are machine-wide, so only on a real host.
sysctl -q -w net.core.somaxconn=1024 || echo "warning: cannot set net.core.somaxconn" >&2
if [ -z "$ROOT" ]; then
    printf 'vm.overcommit_memory = 1\nnet.core.somaxconn = 1024\n' >/etc/sysctl.d/60-ferrodis.conf
    sysctl -q -w vm.overcommit_memory=1
    if [ -w /sys/kernel/mm/transparent_hugepage/enabled ]; then
        echo never >/sys/kernel/mm/transparent_hugepage/enabled
    fi
    # redis-cli, which the operator's <dir>/redis-cli runs here over ssh.
    if ! command -v redis-cli >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
        { DEBIAN_FRONTEND=noninteractive apt-get -qq update &&
            DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends \
                redis-tools; } >/dev/null || echo "warning: could not install redis-tools" >&2
    fi
fi

case $FERRODIS_SUPERVISOR in
systemd)
    id ferrodis >/dev/null 2>&1 ||
        useradd --system --home-dir "$LIB" --shell /usr/sbin/nologin ferrodis
    chown -R ferrodis: "$LIB" "$LOG" "$RUN"
    chown ferrodis: "$ETC/redis.conf"
    for f in "$ETC/users.acl" "$ETC/tls/node.key"; do
        [ ! -f "$f" ] || chown ferrodis: "$f"
    done
    unit=/etc/systemd/system/ferrodis.service
    cat >"$unit.new" <<UNIT
[Unit]
Description=ferrodis cluster node
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=ferrodis
Group=ferrodis
# Transparent huge pages off again after a reboot (+: as root).
ExecStartPre=+/bin/sh -c 'if [ -w /sys/kernel/mm/transparent_hugepage/enabled ]; then echo never >/sys/kernel/mm/transparent_hugepage/enabled; fi'
ExecStart=$BIN $ETC/redis.conf
Restart=on-failure
RestartSec=1
LimitNOFILE=65536
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
UNIT
    if ! cmp -s "$unit.new" "$unit"; then
        mv "$unit.new" "$unit"
        changed=1
        systemctl daemon-reload
    else
        rm -f "$unit.new"
    fi
    systemctl enable --quiet ferrodis
    if [ "$changed" = 1 ]; then
        systemctl restart ferrodis
        echo "restarted ferrodis.service"
    elif ! systemctl is-active --quiet ferrodis; then
        systemctl start ferrodis
        echo "started ferrodis.service"
    fi
    ;;
daemon)
    PIDFILE=$RUN/ferrodis.pid
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    exe=$(readlink "/proc/${pid:-0}/exe" 2>/dev/null || true)
    if [ -n "$pid" ] && [ "${exe% (deleted)}" = "$BIN" ]; then
        [ "$changed" = 1 ] || exit 0
        kill "$pid"
        i=0
        while [ -d "/proc/$pid" ] && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        [ ! -d "/proc/$pid" ] || kill -9 "$pid"
    fi
    rm -f "$PIDFILE"
    "$BIN" "$ETC/redis.conf"
    echo "started $BIN"
    ;;
*)
    echo "unknown FERRODIS_SUPERVISOR=$FERRODIS_SUPERVISOR" >&2
    exit 2
    ;;
esac
