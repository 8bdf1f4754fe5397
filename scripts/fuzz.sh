#!/usr/bin/env bash
# Runs a cargo-fuzz target of ferrodis-node for a while (default: the RESP decoder, 60 s).
#   scripts/fuzz.sh [target] [seconds]
# Installs cargo-fuzz if missing; needs the nightly toolchain (rustup). Not part of CI: fuzzing
# is open-ended; crashes land in node/fuzz/artifacts/<target>/ and reproduce with
# `cargo +nightly fuzz run <target> <file>` from node/.
set -euo pipefail
cd "$(dirname "$0")/../node"
target=${1:-resp_decode}
secs=${2:-60}
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
mkdir -p "fuzz/corpus/$target"
exec cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- -max_total_time="$secs" -max_len=4096
