#!/usr/bin/env bash
# Runs every check CI runs: formatting, build, clippy, all tests (unit, property,
# differential against stock redis-server, end-to-end with the real redis-cli), the ec2
# target's tests (the only step that builds the AWS SDK), and the instructions-per-request
# check against bench/perf-baseline.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo build --release --workspace --all-targets
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace
# The ec2 target (the AWS SDK): built once, in the test profile, linted in the same build,
# tested against the moto EC2 emulator and aws-smithy-mocks (provision/scripts/test-ec2.sh).
# CI=true: a moto that cannot be installed fails the run instead of skipping its tests.
CI=${CI:-true} provision/scripts/test-ec2.sh
scripts/perf-check.sh
