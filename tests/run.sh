#!/usr/bin/env bash
# The whole test suite, as the README gives it: installs what the tests need (Debian packages),
# starts the test lab on loopback (OpenSSH sshd, Samba AD DC, OpenLDAP slapd), checks format and
# lints, runs every test, and stops the lab. Run as root on a Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# rustup installs cargo under ~/.cargo/bin, which a bare root environment may not have on PATH.
if ! command -v cargo >/dev/null && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

bash tests/lab/up.sh
trap 'bash tests/lab/down.sh || true' EXIT

cargo fmt --check
cargo clippy --all-targets -- -D warnings
# --lib --bins --tests: every unit and integration test, but not the benchmarks (run them with
# the commands in BENCHMARKS.md).
cargo test --no-fail-fast --lib --bins --tests
