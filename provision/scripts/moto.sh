#!/usr/bin/env bash
# Installs the moto EC2 emulator (`moto[server]` from PyPI) into a virtualenv for the ec2
# target's tests, and prints the path of its `moto_server`.
#
#   provision/scripts/moto.sh          install (once; later runs only check) and print
#
# The virtualenv lives in $FERRODIS_MOTO_VENV (default ~/.cache/ferrodis/moto-venv), so a
# re-run or a `cargo clean` does not download it again. The tests start the server
# themselves, on 127.0.0.1 and a free port (provision/tests/ec2.rs). Exit status 1 when it
# cannot be installed (no network): the caller decides whether that is fatal.
set -euo pipefail

venv=${FERRODIS_MOTO_VENV:-$HOME/.cache/ferrodis/moto-venv}
log() { printf 'moto.sh: %s\n' "$*" >&2; }

if [ -x "$venv/bin/moto_server" ] && "$venv/bin/python" -c 'import moto, flask' 2>/dev/null; then
    echo "$venv/bin/moto_server"
    exit 0
fi
log "installing moto[server] into $venv"
mkdir -p "$(dirname "$venv")"
if ! python3 -m venv "$venv" >&2; then
    log "python3 -m venv failed (Debian: apt-get install python3-venv)"
    exit 1
fi
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]' >&2; then
    log "pip install 'moto[server]' failed (no network?)"
    exit 1
fi
echo "$venv/bin/moto_server"
