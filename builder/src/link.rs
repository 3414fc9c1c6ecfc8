//! COPY of a context directory by hard link: when the destination is new
//! and nothing about the files changes (no `--chown`, no `--chmod`; the
//! context's files are berthd's, root's, and never rewritten in place —
//! a sync replaces a changed file with a new one), the snapshot's upper
//! dir gets links to the context's files instead of copies. A 40 MB
//! directory then costs 3,000 links, not 40 MB written (and, on a disk
//! that just freed as many inodes, 3,000 slow inode allocations).
//!
//! The destination directory itself is made through the overlay (so its
//! parents are copied up as overlay does it, symlinks on the way resolved
//! inside the image); the links go into the upper dir after the overlay is
//! gone. Anything else (an existing destination, a special file) takes the
//! copy path.

use crate::{BuildError, Result};
use berth_kernel::cp::View;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One thing to make under the destination, by its path relative to it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Dir { rel: String, mode: u32, mtime: (i64, i64) },
    File { rel: String, source: PathBuf },
    Symlink { rel: String, link: PathBuf, mtime: (i64, i64) },
}

/// A linked copy, planned while the overlay was up, made after.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The destination in the upper dir (relative, symlinks resolved).
    target: String,
    /// The source directory's time, set on the destination last.
    mtime: (i64, i64),
    items: Vec<Item>,
}

fn times(m: &std::fs::Metadata) -> (i64, i64) {
    (m.mtime(), m.mtime_nsec())
}

/// What under `dir` (a context directory) can be linked; `None` if a
/// special file (fifo, socket, device) is there.
fn scan(dir: &Path, rel: &str, out: &mut Vec<Item>) -> std::io::Result<bool> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let m = e.path().symlink_metadata()?;
        if m.is_dir() {
            out.push(Item::Dir {
                rel: rel.clone(),
                mode: m.permissions().mode() & 0o7777,
                mtime: times(&m),
            });
            if !scan(&e.path(), &rel, out)? {
                return Ok(false);
            }
        } else if m.file_type().is_symlink() {
            out.push(Item::Symlink { rel, link: std::fs::read_link(e.path())?, mtime: times(&m) });
        } else if m.is_file() && m.uid() == 0 && m.gid() == 0 {
            out.push(Item::File { rel, source: e.path() });
        } else {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Plans COPY of the context directory `host` to `target` in `to` (the
/// step's overlay) by links; makes the destination directory. `None`:
/// copy instead (nothing made).
pub(crate) fn plan(host: &Path, to: &View, target: &str) -> Result<Option<Plan>> {
    let Ok(m) = host.symlink_metadata() else { return Ok(None) };
    if !m.is_dir() || target.trim_matches('/').is_empty() {
        return Ok(None);
    }
    if !matches!(to.stat(target), Err(berth_kernel::cp::CpError::NotFound(_))) {
        return Ok(None);
    }
    let mut items = Vec::new();
    let io = |source| BuildError::Io { context: "COPY".into(), source };
    if !scan(host, "", &mut items).map_err(io)? {
        return Ok(None);
    }
    crate::transfer::mkdir_as(to, target, (0, 0), m.permissions().mode() & 0o7777)?;
    let point = to
        .extraction_point(target)
        .map_err(|e| BuildError::Invalid(format!("COPY {target}: {e}")))?;
    Ok(Some(Plan {
        target: point.path.trim_start_matches('/').to_owned(),
        mtime: times(&m),
        items,
    }))
}

fn set_times(path: &Path, (s, ns): (i64, i64)) -> std::io::Result<()> {
    let t = nix::sys::time::TimeSpec::new(s, ns);
    nix::sys::stat::utimensat(None, path, &t, &t, nix::sys::stat::UtimensatFlags::NoFollowSymlink)
        .map_err(std::io::Error::from)
}

/// A link to `source`, or a copy where none can be made (another
/// filesystem, or the file's links at their limit).
fn link_or_copy(source: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(source, to) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV | libc::EMLINK)) => {
            std::fs::copy(source, to)?;
            let m = source.symlink_metadata()?;
            set_times(to, times(&m))
        }
        r => r,
    }
}

impl Plan {
    /// Makes the planned tree in `upper` (no overlay on it any more; blocking).
    pub(crate) fn apply(&self, upper: &Path) -> Result<()> {
        let io = |source| BuildError::Io { context: "COPY".into(), source };
        let root = upper.join(&self.target);
        if !root.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            return Err(BuildError::Invalid(format!("COPY: /{} was not made", self.target)));
        }
        for item in &self.items {
            match item {
                Item::Dir { rel, mode, .. } => {
                    let p = root.join(rel);
                    std::fs::create_dir(&p).map_err(io)?;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))
                        .map_err(io)?;
                }
                Item::File { rel, source } => link_or_copy(source, &root.join(rel)).map_err(io)?,
                Item::Symlink { rel, link, mtime } => {
                    let p = root.join(rel);
                    std::os::unix::fs::symlink(link, &p).map_err(io)?;
                    set_times(&p, *mtime).map_err(io)?;
                }
            }
        }
        // Directories' times last, deepest first: making their entries changed them.
        for item in self.items.iter().rev() {
            if let Item::Dir { rel, mtime, .. } = item {
                set_times(&root.join(rel), *mtime).map_err(io)?;
            }
        }
        set_times(&root, self.mtime).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_of_files_dirs_and_links_is_planned_in_order_and_fifos_are_not() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("a/b/f"), "f").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("a/l")).unwrap();
        let mut items = Vec::new();
        let all = scan(d, "", &mut items).unwrap();
        // Only root's files are linked as they are (COPY's owner is 0:0).
        let root = nix::unistd::geteuid().is_root();
        assert_eq!(all, root);
        if root {
            let names: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Item::Dir { rel, .. } | Item::File { rel, .. } | Item::Symlink { rel, .. } => {
                        rel.clone()
                    }
                })
                .collect();
            assert_eq!(names, ["a", "a/b", "a/b/f", "a/l"]);
            nix::unistd::mkfifo(&d.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
            assert!(!scan(d, "", &mut Vec::new()).unwrap());
        }
    }
}
