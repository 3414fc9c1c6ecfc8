#!/usr/bin/env bash
# Brings berth up on this machine with its built-in defaults and runs its
# main job: import a small image, run a container, show its output.
#   ./deploy/up.sh
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
cd "$here/.."

install_packages
echo "==> building berth (release)"
cargo build --release --workspace --bins -q
install -m 0755 target/release/berthd target/release/berth-shim target/release/berth /usr/local/bin/

# Pod networking for the CRI front: berth's default network (bridge cni0 on
# 10.88.0.0/16), unless the node already has a CNI config.
mkdir -p /etc/cni/net.d
has_net=
for f in /etc/cni/net.d/*.conf /etc/cni/net.d/*.conflist /etc/cni/net.d/*.json; do
    [ -e "$f" ] && has_net=1
done
if [ -z "$has_net" ]; then
    install -m 0644 deploy/cni/10-berth.conflist /etc/cni/net.d/
fi

if berth version >/dev/null 2>&1; then
    echo "==> berthd is already running"
else
    echo "==> starting berthd (log: /var/log/berthd.log)"
    setsid nohup /usr/local/bin/berthd >>/var/log/berthd.log 2>&1 < /dev/null &
    for _ in $(seq 1 100); do berth version >/dev/null 2>&1 && break; sleep 0.1; done
    berth version >/dev/null || { echo "berthd did not start; see /var/log/berthd.log" >&2; exit 1; }
fi

echo "==> importing a busybox image"
busybox_rootfs_tar | berth import -c 'CMD ["sh"]' - busybox
berth images
echo "==> running a container"
berth run --rm --name hello -h berth-demo busybox sh -c 'echo "hello from $(hostname), pid $$ in its own namespaces"; id'
echo "==> berth is up: try 'berth run -d busybox sleep 300', 'berth ps', 'berth logs'"
