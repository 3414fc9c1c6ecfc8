#!/usr/bin/env bash
# Benchmarks berth against Debian's containerd, side by side (as root):
#   ./deploy/bench.sh pods [--runs N] [--counts 20,100] [--scale-runs N] [--restarts N]
#   ./deploy/bench.sh pull [--runs N]
#   ./deploy/bench.sh docker [--runs N] [--containers N] [--pull-runs N]
#   ./deploy/bench.sh build [--runs N] [--files N] [--mib N]
# Results go to docs/benchmarks/.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
cd "$here/.."

install_packages
need=()
for p in containerd runc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release -q -p berthd -p berth-shim -p berth -p berth-bench
exec ./target/release/berth-bench "$@"
