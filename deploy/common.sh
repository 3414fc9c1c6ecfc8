# Shared by up.sh and test.sh: install what berth needs on a fresh machine
# of this kind (Debian, root, Rust toolchain from rustup already present).
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

install_packages() {
    local need=()
    # busybox-static: the test and demo images; iproute2: `ip` for checks;
    # protobuf-compiler: protoc for the k8s-cri crate's build script;
    # containernetworking-plugins + iptables: pod networking (CNI bridge,
    # host-local, portmap, loopback in /usr/lib/cni); docker-registry: the
    # real OCI registry the image tests push to and pull from (127.0.0.1);
    # skopeo: a second, independent reader and writer of the image archives
    # `berth save`/`load` exchange with other tools; prometheus: the real
    # scraper the metrics test points at berthd (loopback only).
    # docker.io: only its `docker` client, the real CLI the Docker API tests
    # drive berthd with (its dockerd is never started by the tests; no
    # service starts at install: a policy-rc.d says no while apt runs).
    # tmux: terminals driven as a person does (send-keys, capture-pane).
    # docker-compose (1.29): the real compose client of the Docker API tests.
    # bzip2, xz-utils: archives the ADD tests make; openssh-client: the
    # ssh-agent a build forwards.
    for p in busybox-static iproute2 ca-certificates protobuf-compiler containernetworking-plugins iptables docker-registry skopeo prometheus docker.io tmux docker-compose bzip2 xz-utils openssh-client; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
    done
    if [ "${#need[@]}" -gt 0 ]; then
        local own_policy=
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
        fi
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
        if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
    fi
    # The Docker SDK for Python, the other real client of the Docker API tests.
    python3 -c 'import docker' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check docker >/dev/null
    command -v cargo >/dev/null || { echo "cargo not found: berth builds with the machine's Rust toolchain" >&2; exit 1; }
}

# Writes a busybox rootfs tarball (from Debian's busybox-static) to stdout.
busybox_rootfs_tar() {
    local dir
    dir=$(mktemp -d /tmp/berth-rootfs.XXXXXX)
    mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root"
    chmod 1777 "$dir/tmp"
    cp /bin/busybox "$dir/bin/busybox"
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -s busybox "$dir/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
    tar -C "$dir" --numeric-owner -cf - .
    rm -rf "$dir"
}
