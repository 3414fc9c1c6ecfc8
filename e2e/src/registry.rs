//! A real OCI registry for tests: Debian's `docker-registry` on 127.0.0.1,
//! in a private dir, stopped and removed on drop. Plus helpers that build
//! images (tar layers, gzip or zstd, configs, manifests, indexes) and push
//! them with berth's own registry client, so tests can serve exactly the
//! content they need — hostile layers included.

use berth_registry::manifest as mt;
use berth_registry::{Access, Client, ClientConfig, Credentials, Reference};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry.
pub struct Registry {
    dir: PathBuf,
    child: Option<Child>,
    port: u16,
    /// `127.0.0.1:<port>`.
    pub addr: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Registry {
    /// Starts an open registry.
    pub fn start() -> Self {
        Self::start_with_auth(None)
    }

    /// Starts a registry; with `Some((user, password))`, it requires basic auth (htpasswd).
    pub fn start_with_auth(auth: Option<(&str, &str)>) -> Self {
        Self::start_configured(|dir| match auth {
            None => String::new(),
            Some((user, password)) => {
                let hash = bcrypt::hash(password, 4).unwrap();
                std::fs::write(dir.join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    dir.join("htpasswd").display()
                )
            }
        })
    }

    /// Starts a registry that wants bearer tokens from `tokens`.
    pub fn start_with_token(tokens: &crate::token::TokenServer) -> Self {
        Self::start_configured(|_| {
            format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                tokens.realm,
                crate::token::SERVICE,
                crate::token::ISSUER,
                tokens.root_bundle().display()
            )
        })
    }

    /// Starts a registry; `auth(dir)` gives its config's auth section.
    fn start_configured(auth: impl FnOnce(&Path) -> String) -> Self {
        let dir = PathBuf::from(format!("/tmp/berth-test-registry-{}", crate::hex(6)));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        );
        config.push_str(&auth(&dir));
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let mut r = Registry { dir, child: None, port, addr: format!("127.0.0.1:{port}") };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("registry.log"))
            .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry (Debian package docker-registry)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not come up: {}",
                std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the registry (its content stays).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and content.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Where the registry keeps blob `digest` (to corrupt it).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir.join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A layer ready to push.
#[derive(Clone)]
pub struct Layer {
    pub media_type: &'static str,
    pub blob: Vec<u8>,
    pub diff_id: String,
}

fn sha(data: &[u8]) -> String {
    berth_registry::digest::of(data)
}

/// Builds a tar in memory.
pub fn tar(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    b.into_inner().unwrap()
}

/// Appends an entry with a raw (unchecked) name, so hostile names reach the extractor as written.
pub fn entry(
    b: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    name: &str,
    link: &str,
    mode: u32,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_size(data.len() as u64);
    let n = name.as_bytes();
    h.as_old_mut().name[..n.len()].copy_from_slice(n);
    let l = link.as_bytes();
    h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

pub fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    entry(b, tar::EntryType::Regular, name, "", 0o644, data);
}

pub fn dir(b: &mut tar::Builder<Vec<u8>>, name: &str) {
    entry(b, tar::EntryType::Directory, name, "", 0o755, b"");
}

impl Layer {
    pub fn plain(tar: Vec<u8>) -> Self {
        Layer { media_type: mt::OCI_LAYER_TAR, diff_id: sha(&tar), blob: tar }
    }
    pub fn gzip(tar: Vec<u8>) -> Self {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        Layer { media_type: mt::DOCKER_LAYER_GZIP, diff_id: sha(&tar), blob: gz.finish().unwrap() }
    }
    pub fn zstd(tar: Vec<u8>) -> Self {
        Layer {
            media_type: mt::OCI_LAYER_ZSTD,
            diff_id: sha(&tar),
            blob: zstd::stream::encode_all(tar.as_slice(), 3).unwrap(),
        }
    }
    pub fn digest(&self) -> String {
        sha(&self.blob)
    }
}

/// A pushed manifest.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: String,
    pub size: u64,
    pub config_digest: String,
}

/// A client for pushing test content (anonymous unless `creds`).
pub fn client() -> Client {
    Client::new(ClientConfig { stall_timeout: Duration::from_secs(30), ..Default::default() })
        .unwrap()
}

async fn upload(addr: &str, repo: &str, creds: &Credentials, digest: &str, data: Vec<u8>) {
    let r = Reference::parse(&format!("{addr}/{repo}")).unwrap();
    let repo = client().repository(&r, creds.clone(), Access::Push).unwrap();
    if !repo.has_blob(digest).await.unwrap() {
        let n = data.len() as u64;
        repo.upload_blob(digest, n, data.into()).await.unwrap();
    }
}

/// Pushes an image of `layers` (bottom first) for `os/arch` as `repo:tag`
/// (`tag` may be a digest-less name only used to reach the manifest).
pub async fn push_image(
    addr: &str,
    repo: &str,
    tag: &str,
    layers: &[Layer],
    arch: &str,
    config: serde_json::Value,
) -> Pushed {
    push_image_as(addr, repo, tag, layers, arch, config, &Credentials::Anonymous).await
}

pub async fn push_image_as(
    addr: &str,
    repo: &str,
    tag: &str,
    layers: &[Layer],
    arch: &str,
    config: serde_json::Value,
    creds: &Credentials,
) -> Pushed {
    let cfg = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>() },
    })
    .to_string()
    .into_bytes();
    let config_digest = sha(&cfg);
    upload(addr, repo, creds, &config_digest, cfg.clone()).await;
    for l in layers {
        upload(addr, repo, creds, &l.digest(), l.blob.clone()).await;
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_MANIFEST,
        "config": { "mediaType": mt::OCI_CONFIG, "digest": config_digest, "size": cfg.len() },
        "layers": layers.iter().map(|l| serde_json::json!({ "mediaType": l.media_type, "digest": l.digest(), "size": l.blob.len() })).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes();
    let r = Reference::parse(&format!("{addr}/{repo}")).unwrap();
    let handle = client().repository(&r, creds.clone(), Access::Push).unwrap();
    let size = manifest.len() as u64;
    let digest = handle.put_manifest(tag, mt::OCI_MANIFEST, manifest.into()).await.unwrap();
    Pushed { digest, size, config_digest }
}

/// Pushes an index of `entries` (manifest, os/arch) as `repo:tag`.
pub async fn push_index(addr: &str, repo: &str, tag: &str, entries: &[(&Pushed, &str)]) -> String {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_INDEX,
        "manifests": entries.iter().map(|(p, arch)| serde_json::json!({
            "mediaType": mt::OCI_MANIFEST, "digest": p.digest, "size": p.size,
            "platform": { "os": "linux", "architecture": arch }
        })).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes();
    let r = Reference::parse(&format!("{addr}/{repo}")).unwrap();
    let handle = client().repository(&r, Credentials::Anonymous, Access::Push).unwrap();
    handle.put_manifest(tag, mt::OCI_INDEX, index.into()).await.unwrap()
}

/// The busybox rootfs as a layer.
pub fn busybox_layer() -> Layer {
    Layer::gzip(crate::busybox_tarball().to_vec())
}

/// What a [`FaultyProxy`] does to the registry's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Cut the first connection that has sent this many bytes; pass everything after.
    CutOnceAfter(u64),
    /// Cut every connection after this many bytes, and refuse new ones after the first cut.
    CutForeverAfter(u64),
    /// Stop forwarding after this many bytes (connections stay open).
    StallAfter(u64),
}

/// A TCP proxy in front of a registry that breaks transfers on purpose.
pub struct FaultyProxy {
    pub addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Bytes forwarded from the registry so far.
    pub sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl FaultyProxy {
    pub fn start(upstream: &str, fault: Fault) -> Self {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let cut_done = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let (stop2, sent2) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                if matches!(fault, Fault::CutForeverAfter(_)) && cut_done.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                client.set_nonblocking(false).unwrap();
                let Ok(server) = std::net::TcpStream::connect(&upstream) else { continue };
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                });
                let (mut s_read, mut c_write) = (server, client);
                let (stop3, sent3, cut3) = (stop2.clone(), sent2.clone(), cut_done.clone());
                std::thread::spawn(move || {
                    let mut here = 0u64;
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match s_read.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let limit = match fault {
                            Fault::CutOnceAfter(l) if !cut3.load(Ordering::SeqCst) => Some(l),
                            Fault::CutForeverAfter(l) => Some(l),
                            Fault::StallAfter(l) => Some(l),
                            _ => None,
                        };
                        if let Some(l) = limit {
                            if here + n as u64 > l {
                                let keep = (l - here) as usize;
                                let _ = c_write.write_all(&buf[..keep]);
                                sent3.fetch_add(keep as u64, Ordering::SeqCst);
                                if matches!(fault, Fault::StallAfter(_)) {
                                    while !stop3.load(Ordering::SeqCst) {
                                        std::thread::sleep(Duration::from_millis(20));
                                    }
                                }
                                cut3.store(true, Ordering::SeqCst);
                                let _ = c_write.shutdown(std::net::Shutdown::Both);
                                let _ = s_read.shutdown(std::net::Shutdown::Both);
                                break;
                            }
                        }
                        if c_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        here += n as u64;
                        sent3.fetch_add(n as u64, Ordering::SeqCst);
                    }
                });
            }
        });
        FaultyProxy { addr, stop, sent }
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Incompressible bytes (a xorshift stream), so layers keep their size.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}
