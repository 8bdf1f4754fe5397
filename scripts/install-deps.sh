#!/usr/bin/env bash
# Install what the ferrodis test suite needs on a fresh Debian machine (run as root).
#
# Idempotent: installs stock Redis (redis-server, redis-cli, redis-benchmark) only when missing,
# and makes sure the package did not leave a redis-server service running, so the tests start
# their own servers on free ports. Never kills a process by name: services are stopped through
# the init system only, and only when one is present.
set -euo pipefail

log() { printf 'install-deps: %s\n' "$*" >&2; }

need_install=0
for bin in redis-server redis-cli redis-benchmark; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        log "$bin is missing"
        need_install=1
    fi
done

if [ "$need_install" -eq 1 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "must run as root to install packages"
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get update"
    apt-get update
    log "apt-get install redis-server redis-tools"
    # policy-rc.d-less containers may still try to start the service; that is handled below.
    apt-get install -y --no-install-recommends redis-server redis-tools
fi

for bin in redis-server redis-cli redis-benchmark; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        log "$bin still missing after install"
        exit 1
    fi
done

# Stop and disable a redis-server service the package may have started. Only through the init
# system, and only when it is the one in charge (systemd running, or a sysv script present).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    if systemctl list-unit-files redis-server.service >/dev/null 2>&1 \
        && systemctl list-unit-files redis-server.service | grep -q '^redis-server\.service'; then
        if systemctl is-active --quiet redis-server.service; then
            log "stopping redis-server.service"
            systemctl stop redis-server.service
        fi
        if systemctl is-enabled --quiet redis-server.service 2>/dev/null; then
            log "disabling redis-server.service"
            systemctl disable redis-server.service >/dev/null 2>&1 || true
        fi
    fi
elif command -v service >/dev/null 2>&1 && [ -x /etc/init.d/redis-server ]; then
    if service redis-server status >/dev/null 2>&1; then
        log "stopping redis-server service"
        service redis-server stop
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
        update-rc.d redis-server disable >/dev/null 2>&1 || true
    fi
fi

# valgrind (callgrind) for scripts/perf-check.sh, the per-request cost regression check.
if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_control >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        log "valgrind is missing and installing it needs root"
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get install valgrind"
    apt-get update
    apt-get install -y --no-install-recommends valgrind
fi

log "redis: $(redis-server --version)"
