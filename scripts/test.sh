#!/usr/bin/env bash
# Runs every check CI runs: formatting, build, clippy, all tests (unit, property,
# differential against stock redis-server, end-to-end with the real redis-cli), and the
# instructions-per-request check against bench/perf-baseline.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo build --release --workspace --all-targets
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace
scripts/perf-check.sh
