#!/usr/bin/env bash
# The ec2 target's step of scripts/test.sh: builds ferrodis-provision with the `ec2`
# feature (the AWS SDK) once, in the test profile, linting it with clippy in the same
# compilation, and runs its unit tests (aws-smithy-mocks) and tests/ec2.rs against the
# moto EC2 emulator.
#
# clippy runs as the workspace's rustc wrapper during the test build (what `cargo clippy`
# does during a check), so the SDK is compiled once: `cargo clippy` followed by
# `cargo test` would compile it twice (metadata only, then code). Dependencies carry no
# debug info ([profile.dev.package."*"] in Cargo.toml).
#
# moto: installed by provision/scripts/moto.sh, started here on 127.0.0.1 and a free port
# with AMI, instance type and key pair validation on, stopped (by pid) at the end; the
# tests reset it before each test. When it cannot be installed the emulator tests say
# so and pass, except under CI (CI=true), where that is an error.
set -euo pipefail
cd "$(dirname "$0")/../.."

moto_pid=
cleanup() {
    if [ -n "$moto_pid" ]; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

if moto_server=$(provision/scripts/moto.sh); then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p target
    MOTO_ENABLE_AMI_VALIDATION=true \
    MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION=true \
    MOTO_ENABLE_KEYPAIR_VALIDATION=true \
        "$moto_server" -H 127.0.0.1 -p "$port" >target/moto.log 2>&1 &
    moto_pid=$!
    export FERRODIS_MOTO_ENDPOINT="http://127.0.0.1:$port" FERRODIS_REQUIRE_MOTO=1
elif [ -n "${CI:-}" ]; then
    echo "test-ec2.sh: moto could not be installed, and CI needs it" >&2
    exit 1
else
    echo "test-ec2.sh: moto could not be installed: the EC2 emulator tests will be skipped" >&2
fi

RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)" \
CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" \
    cargo test -p ferrodis-provision --features ec2 --lib --bins --test ec2
