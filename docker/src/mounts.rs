//! A create's filesystem requests as Docker sends them — `HostConfig.Binds`
//! (`-v src:dst[:opts]`), `HostConfig.Mounts` (`--mount`),
//! `HostConfig.Tmpfs` (`--tmpfs`), `Config.Volumes` (`-v /path`) — as the
//! engine's binds, volume requests and tmpfs mounts, with dockerd's errors.

use crate::error::{ApiError, ApiResult};
use berth_docker_api::container::Mount as MountSpec;
use berth_docker_api::EmptyObject;
use berth_engine::model::{BindMount, Propagation, TmpfsMount, VolumeRequest};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the engine mounts.
#[derive(Debug, Default)]
pub struct Mounts {
    pub binds: Vec<BindMount>,
    pub volumes: Vec<VolumeRequest>,
    pub tmpfs: Vec<TmpfsMount>,
}

fn invalid(kind: &str, m: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("invalid mount config for type \"{kind}\": {m}"))
}

fn propagation(p: &str) -> Option<Propagation> {
    match p {
        "" | "rprivate" | "private" => Some(Propagation::Private),
        "rslave" | "slave" => Some(Propagation::Slave),
        "rshared" | "shared" => Some(Propagation::Shared),
        _ => None,
    }
}

fn absolute(kind: &str, target: &str) -> ApiResult<PathBuf> {
    if target.is_empty() {
        return Err(invalid(kind, "field Target must not be empty"));
    }
    if !target.starts_with('/') {
        return Err(invalid(
            kind,
            format!("invalid mount path: '{target}' mount path must be absolute"),
        ));
    }
    Ok(PathBuf::from(target))
}

impl Mounts {
    pub fn parse(
        binds: &[String],
        mounts: &[MountSpec],
        tmpfs: &BTreeMap<String, String>,
        anonymous: &BTreeMap<String, EmptyObject>,
    ) -> ApiResult<Self> {
        let mut out = Mounts::default();
        for b in binds {
            out.bind_spec(b).map_err(|e| {
                if e.message.starts_with("invalid mount config") {
                    ApiError::bad_request(format!(
                        "invalid volume specification: '{b}': {}",
                        e.message
                    ))
                } else {
                    e
                }
            })?;
        }
        for m in mounts {
            out.mount_spec(m)?;
        }
        for (path, opts) in tmpfs {
            let container_path = absolute("tmpfs", path)?;
            out.tmpfs.push(TmpfsMount {
                container_path,
                options: opts.split(',').filter(|o| !o.is_empty()).map(str::to_owned).collect(),
            });
        }
        for path in anonymous.keys() {
            // `-v /path` arrives here; a path also in Binds or Mounts is theirs.
            let p = absolute("volume", path)?;
            if !out.binds.iter().any(|b| b.container_path == p)
                && !out.volumes.iter().any(|v| v.container_path == p)
                && !out.tmpfs.iter().any(|t| t.container_path == p)
            {
                out.volumes.push(VolumeRequest {
                    name: None,
                    container_path: p,
                    readonly: false,
                    copy_up: true,
                });
            }
        }
        Ok(out)
    }

    /// `src:dst[:opts]`: a host path (absolute) or a volume name.
    fn bind_spec(&mut self, spec: &str) -> ApiResult<()> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [dst] => ("", *dst, ""),
            [src, dst] => (*src, *dst, ""),
            [src, dst, opts] => (*src, *dst, *opts),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid volume specification: '{spec}'"
                )))
            }
        };
        let kind = if src.starts_with('/') { "bind" } else { "volume" };
        let container_path = absolute(kind, dst)?;
        let (mut readonly, mut prop, mut copy_up) = (false, "", true);
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "ro" => readonly = true,
                "rw" => readonly = false,
                "nocopy" if kind == "volume" => copy_up = false,
                // SELinux relabels: nothing to do without SELinux.
                "z" | "Z" => {}
                p if propagation(p).is_some() && kind == "bind" => prop = p,
                _ => return Err(ApiError::bad_request(format!("invalid mode: {o}"))),
            }
        }
        if kind == "bind" {
            let propagation = propagation(prop).unwrap_or_default();
            self.binds.push(BindMount {
                host_path: PathBuf::from(src),
                container_path,
                readonly,
                propagation,
                ..Default::default()
            });
        } else {
            let name = Some(src.to_owned()).filter(|s| !s.is_empty());
            self.volumes.push(VolumeRequest { name, container_path, readonly, copy_up });
        }
        Ok(())
    }

    fn mount_spec(&mut self, m: &MountSpec) -> ApiResult<()> {
        let kind = m.kind.as_str();
        let container_path = absolute(kind, &m.target)?;
        if !m.consistency.is_empty()
            && !["default", "consistent", "cached", "delegated"].contains(&m.consistency.as_str())
        {
            return Err(invalid(kind, format!("unknown consistency {:?}", m.consistency)));
        }
        match kind {
            "bind" => {
                if m.volume_options.is_some() || m.tmpfs_options.is_some() {
                    return Err(invalid(kind, "options of another type given"));
                }
                if m.source.is_empty() {
                    return Err(invalid(kind, "field Source must not be empty"));
                }
                if !m.source.starts_with('/') {
                    return Err(invalid(
                        kind,
                        format!("invalid mount path: '{}' mount path must be absolute", m.source),
                    ));
                }
                let o = m.bind_options.as_ref();
                // Unlike -v, --mount never makes the source.
                if !o.is_some_and(|o| o.create_mountpoint)
                    && std::fs::symlink_metadata(&m.source).is_err()
                {
                    return Err(invalid(
                        kind,
                        format!("bind source path does not exist: {}", m.source),
                    ));
                }
                if o.is_some_and(|o| o.non_recursive) {
                    return Err(ApiError::bad_request(
                        "Mounts.BindOptions.NonRecursive is not supported by berth yet",
                    ));
                }
                let propagation = propagation(o.map_or("", |o| o.propagation.as_str()))
                    .ok_or_else(|| invalid(kind, "invalid propagation mode"))?;
                self.binds.push(BindMount {
                    host_path: PathBuf::from(&m.source),
                    container_path,
                    readonly: m.read_only,
                    propagation,
                    ..Default::default()
                });
            }
            "volume" => {
                if m.bind_options.is_some() || m.tmpfs_options.is_some() {
                    return Err(invalid(kind, "options of another type given"));
                }
                let o = m.volume_options.as_ref();
                if o.is_some_and(|o| o.driver_config.is_some()) {
                    return Err(ApiError::bad_request(
                        "Mounts.VolumeOptions.DriverConfig is not supported by berth yet",
                    ));
                }
                if o.is_some_and(|o| !o.subpath.is_empty()) {
                    return Err(ApiError::bad_request(
                        "Mounts.VolumeOptions.Subpath is not supported by berth yet",
                    ));
                }
                let name = Some(m.source.clone()).filter(|s| !s.is_empty());
                self.volumes.push(VolumeRequest {
                    name,
                    container_path,
                    readonly: m.read_only,
                    copy_up: !o.is_some_and(|o| o.no_copy),
                });
            }
            "tmpfs" => {
                if !m.source.is_empty() {
                    return Err(invalid(kind, "field Source must not be specified"));
                }
                let mut options = Vec::new();
                if m.read_only {
                    options.push("ro".to_owned());
                }
                if let Some(t) = &m.tmpfs_options {
                    if t.size_bytes > 0 {
                        options.push(format!("size={}", t.size_bytes));
                    }
                    if t.mode != 0 {
                        options.push(format!("mode={:o}", t.mode));
                    }
                }
                self.tmpfs.push(TmpfsMount { container_path, options });
            }
            "" => {
                return Err(ApiError::bad_request(
                    "invalid mount config: mount type must be specified",
                ))
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "mount type {other:?} is not supported by berth yet"
                )))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_as_docker_reads_them() {
        let m = Mounts::parse(
            &["/srv:/data:ro".into(), "cache:/cache".into(), "logs:/logs:nocopy,rw".into()],
            &[],
            &Default::default(),
            &Default::default(),
        )
        .unwrap();
        assert_eq!((m.binds[0].host_path.to_str(), m.binds[0].readonly), (Some("/srv"), true));
        assert_eq!((m.volumes[0].name.as_deref(), m.volumes[0].copy_up), (Some("cache"), true));
        assert!(!m.volumes[1].copy_up);
        for bad in ["/srv:relative", "a:b:c:d", "/srv:/x:bogus", "vol:/x:rshared"] {
            assert!(
                Mounts::parse(&[bad.into()], &[], &Default::default(), &Default::default())
                    .is_err(),
                "{bad}"
            );
        }
    }
}
