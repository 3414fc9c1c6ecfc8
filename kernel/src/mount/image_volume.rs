//! CRI image volumes: an image's layers assembled read-only in the
//! container's mount namespace, and the part asked for bound at its
//! destination, resolved inside the image (a symlink in it can't point out).

use super::{ensure_in_root, fd_path, in_root, sys, MountError};
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// An image mounted read-only into a container (CRI image volumes).
#[derive(Debug, Clone)]
pub struct ImageVolume {
    /// The image's layers, topmost first.
    pub lower_dirs: Vec<PathBuf>,
    /// Where they are assembled, in the container's mount namespace only.
    pub staging: PathBuf,
    /// The part of the image to mount (relative; empty: all of it).
    pub sub_path: String,
    pub destination: PathBuf,
}

/// Mounts an image volume: the image's layers assembled read-only at its
/// staging dir (an overlay, or a bind of a lone layer), then its sub path,
/// resolved *inside* that tree (a symlink in the image can't point out of
/// it), bound read-only at its destination in `root`.
pub fn mount_image_volume(root: &OwnedFd, v: &ImageVolume) -> Result<(), MountError> {
    let staging = v.staging.as_path();
    match v.lower_dirs.as_slice() {
        [] => {
            return Err(MountError::Io(
                staging.display().to_string(),
                std::io::Error::other("the image has no layers"),
            ))
        }
        [one] => {
            mount(
                Some(one.as_path()),
                staging,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(sys("bind image layer", staging))?;
            mount(
                None::<&str>,
                staging,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(sys("remount read-only", staging))?;
        }
        many => {
            let lower: Vec<String> = many.iter().map(|p| p.display().to_string()).collect();
            let data = format!("lowerdir={}", lower.join(":"));
            mount(
                Some("overlay"),
                staging,
                Some("overlay"),
                MsFlags::MS_RDONLY,
                Some(data.as_str()),
            )
            .map_err(sys("mount image overlay on", staging))?;
        }
    }
    let tree = crate::fs::open_root(staging)
        .map_err(|e| MountError::Io(staging.display().to_string(), e))?;
    let rel = if v.sub_path.is_empty() { "." } else { v.sub_path.as_str() };
    let source = in_root(&tree, rel, OFlag::O_PATH)
        .map_err(sys("resolve the image sub path", Path::new(rel)))?;
    let file = nix::sys::stat::fstat(source.as_raw_fd())
        .map(|st| st.st_mode & nix::libc::S_IFMT != nix::libc::S_IFDIR)
        .unwrap_or(false);
    let target = ensure_in_root(root, &v.destination, file)?;
    mount(
        Some(fd_path(&source).as_str()),
        fd_path(&target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("bind image volume", &v.destination))?;
    let target = ensure_in_root(root, &v.destination, file)?;
    mount(
        None::<&str>,
        fd_path(&target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(sys("remount image volume read-only", &v.destination))
}
