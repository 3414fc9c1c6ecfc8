//! The Docker SDK for Python (`docker` on PyPI) against berthd: a user
//! network with a published port and a peer that calls it by name, and
//! `put_archive`/`get_archive` (the SDK's `docker cp`), with the SDK's
//! own error types for what is missing.

use berth_e2e::Daemon;
use std::process::Command;

#[test]
fn the_sdk_drives_networks_ports_and_copies() {
    let d = Daemon::start();
    let script = format!(
        r#"
import docker, io, tarfile, time, urllib.request
c = docker.DockerClient(base_url="unix://{sock}", version="auto")
net = c.networks.create("sdknet", labels={{"app": "sdk"}})
assert c.networks.get("sdknet").attrs["Labels"] == {{"app": "sdk"}}
web = c.containers.run("busybox", ["sh", "-c", "echo hi > /tmp/i; exec httpd -f -p 8080 -h /tmp"], detach=True, name="web", network="sdknet", ports={{"8080/tcp": None}})
web.reload()
port = web.ports["8080/tcp"][0]["HostPort"]
body = None
for _ in range(100):
    try:
        body = urllib.request.urlopen("http://127.0.0.1:%s/i" % port, timeout=2).read()
        break
    except OSError:
        time.sleep(0.05)
assert body == b"hi\n", body
peer = c.containers.run("busybox", ["wget", "-qO-", "http://web:8080/i"], network="sdknet", detach=True)
st = peer.wait()
assert st["StatusCode"] == 0, (st, peer.logs(), peer.attrs["HostConfig"]["NetworkMode"])
assert peer.logs() == b"hi\n", peer.logs()
names = sorted(x.name for x in c.networks.get("sdknet").containers)
assert names == ["web"], names

buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"from sdk\n"
    info = tarfile.TarInfo("sdk.txt")
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
assert web.put_archive("/tmp", buf.getvalue())
stream, stat = web.get_archive("/tmp/sdk.txt")
assert (stat["name"], stat["size"]) == ("sdk.txt", 9), stat
got = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
assert got.extractfile("sdk.txt").read() == b"from sdk\n"
try:
    web.get_archive("/nope")
    raise SystemExit("found a file that doesn't exist")
except docker.errors.NotFound:
    pass
try:
    c.networks.create("other", ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=net.attrs["IPAM"]["Config"][0]["Subnet"])]))
    raise SystemExit("an overlapping subnet was taken")
except docker.errors.APIError as e:
    assert "overlaps" in str(e), e
try:
    net.remove()
    raise SystemExit("removed a network in use")
except docker.errors.APIError as e:
    assert "active endpoints" in str(e), e
web.remove(force=True)
peer.remove()
net.remove()
assert c.networks.list(names=["sdknet"]) == []
print("sdk ok")
"#,
        sock = d.docker_socket().display()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3 with the docker SDK (deploy/test.sh installs it)");
    assert!(
        out.status.success(),
        "stdout={} stderr={}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sdk ok");
}
