//! `berth load`: images from an archive as `save` (or Docker, podman,
//! skopeo) writes them: Docker's `manifest.json` format (legacy
//! `<id>/layer.tar` or Docker 25's `blobs/sha256/…`), an OCI image layout
//! (`index.json`), plain or gzip/zstd compressed.
//!
//! An archive's entries may come in any order (Docker writes its manifest
//! last), so the stream is read once into a private spool directory, every
//! file hashed on the way and kept under a number, never under its name;
//! then each image is unpacked from the spool like a pulled one (digests
//! checked, extraction rooted), its blobs committed to the content store
//! and its record written. Nothing in the archive is trusted: its names are
//! only keys into the spool, its symlinks are resolved inside the archive,
//! and its JSON is size-capped.

use super::record::{ConfigFile, ImageRecord};
use super::reference::{familiar, Reference};
use super::save::{IMAGE_NAME, REF_NAME};
use super::unpack::{self, Expect};
use super::{content, ImageStore};
use crate::bridge::ChunkReader;
use crate::error::{Error, IoContext, Missing, Result};
use berth_kernel::layer::Compression;
use berth_registry::manifest::{self as mt, Descriptor, Manifest, Platform};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// An image `load` stored: its id and the tags it got (familiar form).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: String,
    pub tags: Vec<String>,
}

/// A file of the archive, spooled.
#[derive(Debug, Clone)]
struct Spooled {
    path: PathBuf,
    digest: String,
    size: u64,
}

/// The archive as read: file name → spooled file, symlink name → target.
#[derive(Default)]
struct Spool {
    files: HashMap<String, Spooled>,
    links: HashMap<String, String>,
}

/// One image to load.
struct Item {
    config: Spooled,
    config_json: Vec<u8>,
    /// Its diff ids match `layers` one to one.
    cfg: ConfigFile,
    layers: Vec<Spooled>,
    /// Canonical tags.
    tags: Vec<String>,
    /// The manifest, when the archive has one (OCI layouts).
    manifest: Option<(Descriptor, Vec<u8>)>,
}

/// The spool directory; removed whatever happens.
struct SpoolDir(PathBuf);

impl Drop for SpoolDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("load: {msg}"))
}

impl ImageStore {
    /// Loads the archive arriving as chunks on `data`.
    pub async fn load(
        &self,
        data: mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    ) -> Result<Vec<Loaded>> {
        let dir = SpoolDir(
            self.paths.tmp().join(format!("load-{}", hex::encode(rand::random::<[u8; 8]>()))),
        );
        crate::paths::create_dir(&dir.0, 0o700).ctx(|| format!("create {}", dir.0.display()))?;
        let spool_dir = dir.0.clone();
        let items = blocking(move || {
            let spool = read_archive(ChunkReader::new(data), &spool_dir)?;
            if spool.files.contains_key("manifest.json") {
                docker_items(&spool)
            } else if spool.files.contains_key("index.json") {
                oci_items(&spool)
            } else {
                Err(bad(
                    "neither manifest.json nor index.json in the archive: not an image archive",
                ))
            }
        })
        .await?;
        if items.is_empty() {
            return Err(bad("the archive holds no images"));
        }
        // Shared with pulls of the same layers; held until the records are written.
        let mut locks = HashMap::new();
        let mut records = Vec::new();
        for item in items {
            for diff_id in &item.cfg.rootfs.diff_ids {
                if !locks.contains_key(diff_id) {
                    locks.insert(diff_id.clone(), self.inflight(diff_id).lock_owned().await);
                }
            }
            let paths = self.paths.clone();
            records.push(blocking(move || load_item(&paths, item)).await?);
        }
        let mut out = Vec::new();
        for rec in records {
            let rec = self.add(rec)?;
            out.push(Loaded {
                tags: rec.repo_tags.iter().map(|t| familiar(t)).collect(),
                id: rec.id.clone(),
            });
        }
        drop((dir, locks));
        Ok(out)
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::system("load task", e))?
}

/// Unpacks one image's layers and stores its blobs; returns its record.
fn load_item(paths: &crate::paths::Paths, item: Item) -> Result<ImageRecord> {
    let mut layer_descs = Vec::new();
    for (l, diff_id) in item.layers.iter().zip(&item.cfg.rootfs.diff_ids) {
        let have_layer = paths.layer(diff_id.trim_start_matches("sha256:"))?.exists();
        let compression = Some(sniff(&l.path)?);
        if !(have_layer && content::has(paths, &l.digest)) {
            let f = std::fs::File::open(&l.path).ctx(|| format!("open {}", l.path.display()))?;
            let expect = Expect {
                blob_digest: Some(l.digest.clone()),
                diff_id: Some(diff_id.clone()),
                unpack: !have_layer,
            };
            unpack::layer(paths, f, &expect, |e| unpack::input_error("load", e))?;
        }
        layer_descs.push((compression, l.digest.clone(), l.size));
    }
    let cfg = item.cfg;
    let config_str =
        String::from_utf8(item.config_json).map_err(|_| bad("image config is not UTF-8"))?;
    let (mdigest, media, mbytes) = match item.manifest {
        Some((d, bytes)) => (
            d.digest,
            if d.media_type.is_empty() { mt::OCI_MANIFEST.to_owned() } else { d.media_type },
            bytes,
        ),
        None => {
            let m = super::import::oci_manifest(
                &item.config.digest,
                config_str.len() as u64,
                &layer_descs,
            );
            (berth_registry::digest::of(m.as_bytes()), mt::OCI_MANIFEST.to_owned(), m.into_bytes())
        }
    };
    content::put(paths, &item.config.digest, config_str.as_bytes())?;
    content::put(paths, &mdigest, &mbytes)?;
    let mut blobs = vec![mdigest.clone(), item.config.digest.clone()];
    blobs.extend(item.layers.iter().map(|l| l.digest.clone()));
    Ok(ImageRecord {
        id: item.config.digest.clone(),
        repo_tags: item.tags,
        repo_digests: Vec::new(),
        manifest: Some(mdigest),
        manifest_media_type: Some(media),
        blobs,
        layers: cfg.rootfs.diff_ids,
        config: cfg.config.unwrap_or_default(),
        created_unix_nanos: cfg
            .created
            .as_deref()
            .and_then(berth_proto::time::parse_rfc3339_nanos)
            .unwrap_or(0),
        size: item.layers.iter().map(|l| l.size).sum::<u64>() + config_str.len() as u64,
        config_json: config_str,
    })
}

/// A name inside the archive, cleaned; `..` may not climb above its root.
fn clean(name: &str) -> Result<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts
                    .pop()
                    .ok_or_else(|| bad(format!("archive entry {name:?} escapes the archive")))?;
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

fn read_err(e: std::io::Error) -> Error {
    bad(format!("reading the archive: {e}"))
}

/// Reads the (optionally gzip- or zstd-compressed) tar into `dir`.
fn read_archive(input: impl Read, dir: &Path) -> Result<Spool> {
    let mut buffered = BufReader::with_capacity(256 * 1024, input);
    let plain: Box<dyn Read> = match Compression::sniff(buffered.fill_buf().map_err(read_err)?) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(read_err)?)
        }
        Compression::None => Box::new(buffered),
    };
    let mut archive = tar::Archive::new(plain);
    let mut spool = Spool::default();
    for (n, entry) in archive.entries().map_err(read_err)?.enumerate() {
        let mut entry = entry.map_err(read_err)?;
        let raw = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| bad("an entry name is not UTF-8"))?;
        let name = clean(&raw)?;
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let path = dir.join(n.to_string());
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .ctx(|| format!("create {}", path.display()))?;
                let mut hasher = Sha256::new();
                let mut size = 0u64;
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let k = entry.read(&mut buf).map_err(read_err)?;
                    if k == 0 {
                        break;
                    }
                    hasher.update(&buf[..k]);
                    file.write_all(&buf[..k]).ctx(|| format!("write {}", path.display()))?;
                    size += k as u64;
                }
                let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
                if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                    if digest[7..] != *hex {
                        return Err(Error::BadContent(format!(
                            "load: {name} does not match its digest (it is {digest})"
                        )));
                    }
                }
                spool.files.insert(name, Spooled { path, digest, size });
            }
            // Legacy Docker archives link repeated layers to their first copy.
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(format!("symlink {name:?} has no target")))?;
                let target = String::from_utf8(target.into_owned())
                    .map_err(|_| bad("a symlink target is not UTF-8"))?;
                let base = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                let resolved = if target.starts_with('/') {
                    clean(&target)?
                } else {
                    clean(&format!("{base}/{target}"))?
                };
                spool.links.insert(name, resolved);
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(format!("hardlink {name:?} has no target")))?;
                let target = String::from_utf8(target.into_owned())
                    .map_err(|_| bad("a hardlink target is not UTF-8"))?;
                spool.links.insert(name, clean(&target)?);
            }
            _ => {}
        }
    }
    Ok(spool)
}

impl Spool {
    /// The file a name leads to, following the archive's own links.
    fn get(&self, name: &str) -> Result<&Spooled> {
        let mut name = clean(name)?;
        for _ in 0..16 {
            if let Some(f) = self.files.get(&name) {
                return Ok(f);
            }
            match self.links.get(&name) {
                Some(t) => name = t.clone(),
                None => return Err(bad(format!("the archive has no file {name:?}"))),
            }
        }
        Err(bad(format!("too many links on the way to {name:?}")))
    }

    fn blob(&self, d: &Descriptor) -> Result<&Spooled> {
        self.get(&super::save::blob_path(&d.digest))
    }
}

/// A spooled JSON document, size-capped.
fn read_small(f: &Spooled, max: usize) -> Result<Vec<u8>> {
    if f.size > max as u64 {
        return Err(bad(format!("a {} byte document is larger than {max}", f.size)));
    }
    std::fs::read(&f.path).ctx(|| format!("read {}", f.path.display()))
}

/// The images of Docker's `manifest.json`.
fn docker_items(spool: &Spool) -> Result<Vec<Item>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        config: String,
        #[serde(default)]
        repo_tags: Option<Vec<String>>,
        layers: Vec<String>,
    }
    let text = read_small(spool.get("manifest.json")?, mt::MAX_MANIFEST)?;
    let entries: Vec<Entry> =
        serde_json::from_slice(&text).map_err(|e| bad(format!("manifest.json: {e}")))?;
    // Docker 25 archives are OCI layouts too: keep their manifests.
    let oci =
        if spool.files.contains_key("index.json") { oci_manifests(spool)? } else { Vec::new() };
    let mut items = Vec::new();
    for e in entries {
        let config = spool.get(&e.config)?.clone();
        let layers = e.layers.iter().map(|l| spool.get(l).cloned()).collect::<Result<Vec<_>>>()?;
        let tags =
            e.repo_tags.unwrap_or_default().iter().map(|t| tag(t)).collect::<Result<Vec<_>>>()?;
        let manifest = oci
            .iter()
            .find(|(_, m, _)| {
                m.config.digest == config.digest
                    && m.layers.iter().map(|l| &l.digest).eq(layers.iter().map(|l| &l.digest))
            })
            .map(|(d, _, b)| (d.clone(), b.clone()));
        items.push(item(config, layers, tags, manifest)?);
    }
    Ok(items)
}

/// The images of an OCI layout's `index.json`, one per manifest.
fn oci_items(spool: &Spool) -> Result<Vec<Item>> {
    let mut items: Vec<Item> = Vec::new();
    for (d, m, bytes) in oci_manifests(spool)? {
        let tags = match d.annotations.get(IMAGE_NAME) {
            Some(n) => vec![tag(n)?],
            // A bare tag (`latest`) names nothing without a repository.
            None => match d.annotations.get(REF_NAME) {
                Some(n) if n.contains('/') || n.contains(':') => vec![tag(n)?],
                _ => Vec::new(),
            },
        };
        if let Some(it) = items
            .iter_mut()
            .find(|i| i.manifest.as_ref().is_some_and(|(x, _)| x.digest == d.digest))
        {
            for t in tags {
                if !it.tags.contains(&t) {
                    it.tags.push(t);
                }
            }
            continue;
        }
        let config = spool.blob(&m.config)?.clone();
        let layers = m.layers.iter().map(|l| spool.blob(l).cloned()).collect::<Result<Vec<_>>>()?;
        items.push(item(config, layers, tags, Some((d, bytes)))?);
    }
    Ok(items)
}

/// The image manifests `index.json` leads to, a nested index resolved to
/// this node's platform.
fn oci_manifests(spool: &Spool) -> Result<Vec<(Descriptor, mt::ImageManifest, Vec<u8>)>> {
    let text = read_small(spool.get("index.json")?, mt::MAX_MANIFEST)?;
    let Manifest::Index(index) =
        Manifest::parse(&text, Some(mt::OCI_INDEX)).map_err(|e| bad(format!("index.json: {e}")))?
    else {
        return Err(bad("index.json is not an index"));
    };
    let mut out = Vec::new();
    for top in index.manifests {
        let mut d = top.clone();
        for _ in 0..4 {
            let bytes = read_small(spool.blob(&d)?, mt::MAX_MANIFEST)?;
            match Manifest::parse(&bytes, Some(&d.media_type))? {
                Manifest::Image(m) => {
                    let mut found = d.clone();
                    found.annotations = top.annotations.clone();
                    out.push((found, m, bytes));
                    break;
                }
                Manifest::Index(inner) => {
                    let want = Platform::host();
                    d = inner.pick(&want).cloned().ok_or_else(|| {
                        Error::NotFound(Missing::Other(format!(
                            "load: no image for {want} in the archive's index (it has: {})",
                            inner.platforms()
                        )))
                    })?;
                }
            }
        }
    }
    Ok(out)
}

/// A tag from the archive, canonical.
fn tag(s: &str) -> Result<String> {
    let r = Reference::parse(s).map_err(|e| bad(format!("tag {s:?}: {e}")))?;
    if r.digest.is_some() {
        return Err(bad(format!("tag {s:?} has a digest")));
    }
    Ok(r.with_default_tag().canonical())
}

fn item(
    config: Spooled,
    layers: Vec<Spooled>,
    tags: Vec<String>,
    manifest: Option<(Descriptor, Vec<u8>)>,
) -> Result<Item> {
    let config_json = read_small(&config, mt::MAX_CONFIG)?;
    let cfg = ConfigFile::parse(&config_json, &config.digest)?;
    if cfg.rootfs.diff_ids.len() != layers.len() {
        return Err(bad(format!(
            "image config lists {} layers, the archive {}",
            cfg.rootfs.diff_ids.len(),
            layers.len()
        )));
    }
    Ok(Item { config, config_json, cfg, layers, tags, manifest })
}

/// A blob's compression, by its magic.
fn sniff(path: &Path) -> Result<Compression> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).ctx(|| format!("open {}", path.display()))?;
    let n = f.read(&mut head).ctx(|| format!("read {}", path.display()))?;
    Ok(Compression::sniff(&head[..n]))
}
