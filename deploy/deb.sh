#!/usr/bin/env bash
# Builds berth's Debian package: the three binaries, the default config
# (/etc/berth/berthd.toml, a conffile), the CNI conflist and crictl.yaml
# (copied into /etc by postinst only where the node has none), the systemd
# unit and the docs. Install it with `apt install ./berth_<version>_<arch>.deb`.
#   ./deploy/deb.sh [--debug] [--version V] [--out DIR]
#     --debug      package target/debug (the tests do; no release build)
#     --version V  the package version (default: the workspace's)
#     --out DIR    where the .deb goes (default: target/debian)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
profile=release out=target/debian
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) profile=debug ;;
        --version) version=$2; shift ;;
        --out) out=$2; shift ;;
        *) echo "usage: $0 [--debug] [--version V] [--out DIR]" >&2; exit 2 ;;
    esac
    shift
done
export PATH="$HOME/.cargo/bin:$PATH"
if [ "$profile" = release ]; then
    cargo build --release -q -p berthd -p berth-shim -p berth
else
    cargo build -q -p berthd -p berth-shim -p berth
fi
arch=$(dpkg --print-architecture)
stage=$(mktemp -d /tmp/berth-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
install -D -m 0755 -t "$stage/usr/bin" "target/$profile/berthd" "target/$profile/berth-shim" "target/$profile/berth"
install -D -m 0644 deploy/berthd.toml "$stage/etc/berth/berthd.toml"
install -D -m 0644 deploy/berthd.service "$stage/lib/systemd/system/berthd.service"
install -D -m 0644 deploy/cni/10-berth.conflist "$stage/usr/share/berth/10-berth.conflist"
install -D -m 0644 deploy/crictl.yaml "$stage/usr/share/berth/crictl.yaml"
install -D -m 0644 -t "$stage/usr/share/doc/berth" deploy/kubelet.md deploy/registries.md README.md
install -d "$stage/DEBIAN"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$stage/DEBIAN/"
echo /etc/berth/berthd.toml > "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: berth
Version: $version
Architecture: $arch
Maintainer: berth developers <berth@example.invalid>
Installed-Size: $size
Depends: libc6, iptables
Recommends: containernetworking-plugins
Section: admin
Priority: optional
Homepage: https://example.invalid/berth
Description: container engine for Kubernetes nodes (CRI)
 berthd serves the Kubernetes CRI v1 API on /run/berth/berth.sock, a drop-in
 for containerd under kubelet, with a small per-container shim, CNI
 networking and an image store that pulls from OCI registries.
CONTROL
mkdir -p "$out"
deb="$out/berth_${version}_${arch}.deb"
# Debug builds (the tests') are large: stored, not compressed.
compress=(); [ "$profile" = debug ] && compress=(-Znone)
dpkg-deb --root-owner-group "${compress[@]}" --build "$stage" "$deb" >/dev/null
echo "$deb"
