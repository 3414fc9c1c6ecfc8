//! `docker diff`: what a container's upper dir changed over its image's
//! layers. Every entry of the upper dir is an addition or a change (a
//! change if a layer below has that path), every whiteout a deletion.
//! Paths are looked up in the layers relative to each layer's root,
//! never through a symlink.

use super::CpError;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::fstatat;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Docker's kinds of change (`Kind` 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

/// The changes in `upper` over `lower` (top layer first), sorted by path.
pub fn changes(upper: &Path, lower: &[PathBuf]) -> Result<Vec<(String, ChangeKind)>, CpError> {
    let root =
        crate::fs::open_root(upper).map_err(|e| CpError::sys(&upper.display().to_string(), e))?;
    let layers: Vec<OwnedFd> = lower.iter().filter_map(|l| crate::fs::open_root(l).ok()).collect();
    let mut out = Vec::new();
    walk(&root, "", &layers, &mut out, 0)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn walk(
    dir: &OwnedFd,
    prefix: &str,
    layers: &[OwnedFd],
    out: &mut Vec<(String, ChangeKind)>,
    depth: usize,
) -> Result<(), CpError> {
    if depth > 256 {
        return Err(CpError::Refused(format!("{prefix}: the tree is too deep")));
    }
    for name in super::list(dir, prefix)? {
        let path = format!("{prefix}/{name}");
        let Ok(st) = fstatat(Some(dir.as_raw_fd()), name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
        else {
            continue;
        };
        let kind = st.st_mode & libc::S_IFMT;
        if kind == libc::S_IFCHR && st.st_rdev == 0 {
            out.push((path, ChangeKind::Deleted));
            continue;
        }
        out.push((
            path.clone(),
            if in_layers(layers, &path) { ChangeKind::Modified } else { ChangeKind::Added },
        ));
        if kind == libc::S_IFDIR {
            let sub = super::open_dir(dir, &name, &path)?;
            walk(&sub, &path, layers, out, depth + 1)?;
        }
    }
    Ok(())
}

/// Whether the image has `path`: the topmost layer that says anything of
/// it decides (a whiteout there: no).
fn in_layers(layers: &[OwnedFd], path: &str) -> bool {
    let rel = path.trim_start_matches('/');
    let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    for l in layers {
        let Ok(p) = crate::fs::open_beneath(l, parent, OFlag::O_PATH | OFlag::O_DIRECTORY) else {
            continue;
        };
        match fstatat(Some(p.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0 => {
                return false
            }
            Ok(_) => return true,
            Err(_) => continue,
        }
    }
    false
}
