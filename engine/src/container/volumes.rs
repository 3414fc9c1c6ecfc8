//! A create's volumes and tmpfs mounts: each destination checked (absolute,
//! no `..`, used once), named volumes made when missing, an anonymous one
//! for `-v /path` and for each image `VOLUME` nothing else covers, and the
//! binds the spec mounts. Anonymous volumes made here go with a failed create.

use super::{BindMount, CreateOptions};
use crate::error::{Error, Missing, Result};
use crate::model::volume::{TmpfsMount, VolumeRequest, VolumeSource, VolumeUse};
use crate::undo::Undo;
use crate::Engine;
use std::path::{Component, Path, PathBuf};

/// The tmpfs options Docker accepts.
const TMPFS_OPTIONS: [&str; 14] = [
    "ro",
    "rw",
    "exec",
    "noexec",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
];

fn clean_destination(p: &Path) -> Result<()> {
    if !p.is_absolute()
        || p.components().any(|c| matches!(c, Component::ParentDir))
        || p == Path::new("/")
    {
        return Err(Error::invalid_field(
            "mounts",
            format!("invalid mount path: '{}' mount path must be absolute", p.display()),
        ));
    }
    Ok(())
}

/// Every destination of the request's binds, volumes and tmpfs mounts.
pub(super) fn check(opts: &CreateOptions) -> Result<()> {
    let mut seen: Vec<PathBuf> = Vec::new();
    let dests = opts
        .mounts
        .iter()
        .map(|m| &m.container_path)
        .chain(opts.docker.volumes.iter().map(|v| &v.container_path))
        .chain(opts.docker.tmpfs.iter().map(|t| &t.container_path));
    for d in dests {
        clean_destination(d)?;
        let d: PathBuf = d.components().collect();
        if seen.contains(&d) {
            return Err(Error::invalid_field(
                "mounts",
                format!("Duplicate mount point: {}", d.display()),
            ));
        }
        seen.push(d);
    }
    for v in &opts.docker.volumes {
        if let Some(n) = &v.name {
            crate::model::volume::check_volume_name(n)?;
        }
    }
    for t in &opts.docker.tmpfs {
        check_tmpfs_options(&t.options)?;
    }
    Ok(())
}

/// A tmpfs's options, each one Docker accepts.
pub fn check_tmpfs_options(options: &[String]) -> Result<()> {
    for o in options {
        let key = o.split_once('=').map_or(o.as_str(), |(k, _)| k);
        if !TMPFS_OPTIONS.contains(&key) || o.contains(',') {
            return Err(Error::invalid_field("mounts", format!("invalid tmpfs option {o:?}")));
        }
    }
    Ok(())
}

impl CreateOptions {
    /// Whether the request (or `more` volume requests beside its own)
    /// mounts something at `p`.
    fn mounts_at(&self, p: &Path, more: &[VolumeRequest]) -> bool {
        self.mounts.iter().any(|m| m.container_path == p)
            || self.docker.volumes.iter().chain(more).any(|v| v.container_path == p)
            || self.docker.tmpfs.iter().any(|t| t.container_path == p)
    }
}

impl Engine {
    /// `--volumes-from ctr[:ro|rw]`: the other container's volumes and binds
    /// added to the request (what the request mounts itself wins), read-only
    /// or read-write as asked, else as they are there.
    pub(super) fn with_volumes_from(&self, mut opts: CreateOptions) -> Result<CreateOptions> {
        for spec in std::mem::take(&mut opts.docker.volumes_from) {
            let (name, mode) =
                spec.split_once(':').map_or((spec.as_str(), None), |(n, m)| (n, Some(m)));
            let readonly = match mode {
                None => None,
                Some("ro") => Some(true),
                Some("rw") => Some(false),
                Some(m) => {
                    return Err(Error::invalid_field("mounts", format!("invalid mode: {m}")))
                }
            };
            let missing = || Error::NotFound(Missing::Container(name.to_owned()));
            let other = self.lookup(name)?.record();
            if other.config.pod.is_some() {
                return Err(missing());
            }
            for m in &other.config.mounts {
                if opts.mounts_at(&m.container_path, &[]) {
                    continue;
                }
                let ro = readonly.unwrap_or(m.readonly);
                match other.config.volume_at(&m.container_path) {
                    Some(v) => opts.docker.volumes.push(VolumeRequest {
                        name: Some(v.name.clone()),
                        container_path: m.container_path.clone(),
                        readonly: ro,
                        copy_up: false,
                    }),
                    None => opts.mounts.push(BindMount { readonly: ro, ..m.clone() }),
                }
            }
        }
        Ok(opts)
    }

    /// The volumes of a new container (its binds to them, what it names);
    /// anonymous ones made here are undone with `undo`.
    pub(super) fn make_volumes(
        &self,
        opts: &CreateOptions,
        image: &crate::image::ImageConfig,
        undo: &mut Undo,
    ) -> Result<(Vec<BindMount>, Vec<TmpfsMount>, Vec<VolumeUse>)> {
        // The image's VOLUMEs (data, not instructions: container paths only).
        let mut from_image = Vec::new();
        for path in image.volumes.iter().flat_map(|v| v.keys()) {
            let p = PathBuf::from(path);
            if clean_destination(&p).is_err() {
                tracing::warn!(path, "ignoring an image VOLUME that is no absolute path");
                continue;
            }
            if !opts.mounts_at(&p, &from_image) {
                from_image.push(VolumeRequest {
                    name: None,
                    container_path: p,
                    readonly: false,
                    copy_up: true,
                });
            }
        }
        let requests = opts.docker.volumes.iter().cloned().chain(from_image);
        let mut binds = Vec::new();
        let mut tmpfs = Vec::new();
        let mut uses = Vec::new();
        for r in requests {
            let v = self.create_volume(r.name.as_deref(), Default::default())?;
            if v.anonymous {
                let dir = self.paths().volume(&v.name)?;
                undo.push(move || {
                    let _ = std::fs::remove_dir_all(dir);
                });
            }
            let mut options = Vec::new();
            if r.copy_up {
                options.push(berth_kernel::mount::COPY_UP.to_owned());
            }
            let host_path = match &v.source {
                None => self.volume_data(&v.name)?,
                Some(VolumeSource::Bind { device }) => {
                    if !device.is_dir() {
                        return Err(Error::invalid_field(
                            "mounts",
                            format!(
                                "failed to mount local volume {}: {}: no such directory",
                                v.name,
                                device.display()
                            ),
                        ));
                    }
                    device.clone()
                }
                Some(VolumeSource::Tmpfs { options }) => {
                    let mut o = options.clone();
                    if r.readonly {
                        o.push("ro".into());
                    }
                    tmpfs.push(TmpfsMount { container_path: r.container_path.clone(), options: o });
                    uses.push(VolumeUse {
                        name: v.name,
                        container_path: r.container_path,
                        readonly: r.readonly,
                        anonymous: v.anonymous,
                    });
                    continue;
                }
            };
            binds.push(BindMount {
                host_path,
                container_path: r.container_path.clone(),
                readonly: r.readonly,
                options,
                ..Default::default()
            });
            uses.push(VolumeUse {
                name: v.name,
                container_path: r.container_path,
                readonly: r.readonly,
                anonymous: v.anonymous,
            });
        }
        Ok((binds, tmpfs, uses))
    }
}

/// The tmpfs mounts as the spec mounts them: Docker's defaults, then the user's options.
pub fn tmpfs_options(t: &TmpfsMount) -> Vec<String> {
    let mut o: Vec<String> = ["nosuid", "nodev", "noexec"].iter().map(|s| s.to_string()).collect();
    o.extend(t.options.iter().cloned());
    o
}
