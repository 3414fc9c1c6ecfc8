#!/usr/bin/env bash
# Runs berth's whole test suite: unit tests and end-to-end tests that start
# real daemons and real containers (as root).
#   ./deploy/test.sh
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
cd "$here/.."

install_packages
echo "==> formatting and lints"
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
echo "==> building"
cargo build --workspace --bins --tests -q
echo "==> unit and end-to-end tests"
cargo test --workspace --no-fail-fast
