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
echo "==> architecture facts"
python3 deploy/check-facts.py
echo "==> building"
cargo build --workspace --bins --tests -q
echo "==> unit and end-to-end tests"
status=0
cargo test --workspace --no-fail-fast || status=$?
echo "==> leftovers"
# Every test cleans up after itself, failed or not: what its daemons,
# containers and networks were named by (berth-test-<tag>, bd/bt/bp<tag>,
# the address ranges of e2e/src/lib.rs) must be gone from the node.
left=$(
    ls -d /tmp/berth-test-* 2>/dev/null || true
    grep -h ' /tmp/berth-test-' /proc/self/mountinfo 2>/dev/null | awk '{print "mount " $5}' || true
    ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -E '^b[dtp][0-9a-f]{12}(@|$)' | sed 's/^/link /' || true
    find /sys/fs/cgroup -maxdepth 3 -type d -name 'berth-test-*' 2>/dev/null | sed 's/^/cgroup /' || true
    pgrep -af 'berth-test-' 2>/dev/null | grep -v pgrep | sed 's/^/process /' || true
    iptables -S 2>/dev/null | grep -E 'BERTH-ISO-b[dtp][0-9a-f]{12}( |$)' | sed 's/^/filter /' || true
    # (The tests' address ranges are 10.100.0.0-10.249.255.255: pods', default bridges', user networks'.)
    iptables -t nat -S 2>/dev/null | grep -E 'berth-test-|[ "]b[dtp][0-9a-f]{12}[ "]|[ /]10\.(1[0-9][0-9]|2[0-4][0-9])\.[0-9]+\.[0-9]+' | sed 's/^/nat /' || true
)
if [ -n "$left" ]; then
    echo "tests left these behind:" >&2
    echo "$left" >&2
    exit 1
fi
[ "$status" -eq 0 ] || exit "$status"
