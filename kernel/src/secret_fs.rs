//! A small tmpfs on the host for what must never touch a disk: a build's
//! secrets, written into one just before a RUN step binds them in and
//! unmounted as soon as the step ends. [`SecretDir`] unmounts and removes
//! its dir when dropped; [`sweep`] unmounts whatever a killed process left
//! under a parent dir (read from `/proc/self/mountinfo`).

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::io;
use std::path::{Path, PathBuf};

/// A mounted tmpfs dir (mode 0700, no devices, no setuid, no exec).
#[derive(Debug)]
pub struct SecretDir {
    dir: PathBuf,
}

impl SecretDir {
    /// Makes `dir` (which must not exist) and mounts a tmpfs of `size` bytes on it.
    pub fn mount(dir: &Path, size: u64) -> io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(dir)?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let data = format!("size={size},mode=0700");
        if let Err(e) = mount(Some("tmpfs"), dir, Some("tmpfs"), flags, Some(data.as_str())) {
            let _ = std::fs::remove_dir(dir);
            return Err(e.into());
        }
        Ok(Self { dir: dir.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        let _ = umount2(&self.dir, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Unmounts every mount at or under `parent` (deepest first).
pub fn sweep(parent: &Path) -> io::Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|p| p.starts_with(parent))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = umount2(&p, MntFlags::MNT_DETACH);
    }
    Ok(())
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_read_back() {
        assert_eq!(unescape(r"/a\040b/c\134d"), PathBuf::from("/a b/c\\d"));
        assert_eq!(unescape("/plain"), PathBuf::from("/plain"));
    }

    #[test]
    fn a_secret_dir_is_a_tmpfs_gone_when_dropped() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let s = SecretDir::mount(&dir, 1 << 20).unwrap();
        std::fs::write(s.path().join("x"), "secret").unwrap();
        let st = nix::sys::statfs::statfs(&dir).unwrap();
        assert_eq!(st.filesystem_type(), nix::sys::statfs::TMPFS_MAGIC);
        drop(s);
        assert!(!dir.exists());
        // A mount left behind is swept.
        let s = SecretDir::mount(&dir, 1 << 20).unwrap();
        std::mem::forget(s);
        sweep(tmp.path()).unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }
}
