//! COPY, ADD and WORKDIR's mkdir: files moved between two views (the
//! context dir or a stage's layers, and the step's snapshot), each path
//! walked by descriptor from its own root, as `docker cp` does: a symlink
//! in the context or in the image can send a copy anywhere inside that
//! root and nowhere else.

use crate::{BuildError, Result};
use berth_dockerfile::ignore::Ignore;
use berth_kernel::cp::{ExtractOptions, Owners, View};
use std::path::Path;

/// Where a COPY's files go, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// `COPY` or `ADD`, for messages.
    pub what: &'static str,
    /// Absolute path in the image.
    pub path: String,
    /// `--chown`, as written (names resolved in the image's own files).
    pub chown: Option<String>,
    /// `--chmod`, octal.
    pub chmod: Option<u32>,
    /// A directory whatever is there: several sources, a glob or a trailing `/`.
    pub is_dir: bool,
    /// ADD: a local archive is extracted (not a fetched file).
    pub extract: bool,
    /// `--exclude` patterns (`.dockerignore`'s rules), matched against the
    /// paths below each source (below the destination with `--parents`).
    pub exclude: Vec<String>,
}

/// A path COPY copies, and where it lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Its path in the source (the context, a stage, an image).
    pub path: String,
    /// With `--parents`: its path below the destination (the path after
    /// the last `/./` of what was written, or all of it).
    pub below: Option<String>,
    /// A glob's match: `--exclude` is matched against its own name too.
    pub matched: bool,
}

impl Source {
    pub fn plain(path: impl Into<String>) -> Self {
        Source { path: path.into(), below: None, matched: false }
    }

    /// Whether `--exclude` leaves this source out whole (`name`: its last element).
    pub(crate) fn left_out(&self, ex: &Ignore, name: &str) -> bool {
        (self.matched && ex.excludes(name)) || self.below.as_deref().is_some_and(|b| ex.excludes(b))
    }

    /// Whether `--exclude` leaves out `rel`, a path below this source.
    pub(crate) fn leaves_out(&self, ex: &Ignore, rel: &str) -> bool {
        match &self.below {
            Some(b) => ex.excludes(&format!("{b}/{rel}")),
            None => ex.excludes(rel),
        }
    }
}

fn cp_err(what: &str) -> impl FnOnce(berth_kernel::cp::CpError) -> BuildError + '_ {
    move |e| {
        match e {
        berth_kernel::cp::CpError::NotFound(p) => BuildError::NotFound(format!(
            "{what}: file not found in build context or excluded by .dockerignore: stat {p}: file does not exist"
        )),
        e => BuildError::Invalid(format!("{what}: {e}")),
    }
    }
}

/// Copies each of `sources` (paths in `from`) to `dest` in `to` (blocking).
/// With `context` (the host dir `from` views, when it is the build's
/// context), a directory may be linked instead: its plan is returned, to
/// be applied to the upper dir once `to` is gone (`link.rs`).
pub(crate) fn copy(
    from: &View,
    context: Option<&Path>,
    sources: &[Source],
    to: &View,
    dest: &Dest,
) -> Result<Vec<crate::link::Plan>> {
    let mut linked = Vec::new();
    let what = dest.what;
    let owner = match &dest.chown {
        Some(spec) => to.owner(spec).map_err(cp_err(what))?,
        None => (0, 0),
    };
    let opts = ExtractOptions {
        owners: Owners::Fixed(owner.0, owner.1),
        mode: dest.chmod,
        ..Default::default()
    };
    let into_dir = dest.is_dir
        || to.stat(&dest.path).map(|s| s.mode & libc::S_IFMT == libc::S_IFDIR).unwrap_or(false);
    let root = to.extraction_point("/").map_err(cp_err(what))?;
    let excluded = (!dest.exclude.is_empty()).then(|| Ignore::parse(&dest.exclude.join("\n")));
    for source in sources {
        let src = source.path.as_str();
        let st = from.stat(src).map_err(cp_err(what))?;
        if excluded.as_ref().is_some_and(|ex| source.left_out(ex, &st.name)) {
            continue;
        }
        let is_dir = st.mode & libc::S_IFMT == libc::S_IFDIR;
        let is_file = st.mode & libc::S_IFMT == libc::S_IFREG;
        if dest.extract && is_file && add_archive(from, src, to, dest, owner)? {
            continue;
        }
        let target = match &source.below {
            Some(below) => {
                let t = format!("{}/{below}", dest.path.trim_end_matches('/'));
                if let Some((parent, _)) = t.rsplit_once('/').filter(|(p, _)| !p.is_empty()) {
                    mkdir(to, parent, owner)?;
                }
                t
            }
            None if is_dir || !into_dir => dest.path.clone(),
            None => format!("{}/{}", dest.path.trim_end_matches('/'), st.name),
        };
        let linkable = what == "COPY"
            && is_dir
            && dest.chown.is_none()
            && dest.chmod.is_none()
            && excluded.is_none();
        if let Some(host) = context.filter(|_| linkable).and_then(|c| inside(c, src)) {
            if let Some(plan) = crate::link::plan(&host, to, &target)? {
                linked.push(plan);
                continue;
            }
        }
        let name = match target.trim_matches('/') {
            "" => ".".to_owned(),
            t => t.to_owned(),
        };
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| BuildError::Io { context: "pipe".into(), source: e.into() })?;
        let (r, w) = (std::fs::File::from(r), std::fs::File::from(w));
        // What `--exclude` leaves out below this source.
        let skip = |rel: &str| excluded.as_ref().is_some_and(|ex| source.leaves_out(ex, rel));
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                let w = std::io::BufWriter::new(w);
                match excluded {
                    Some(_) => from.archive_without(src, &name, &skip, w),
                    None => from.archive_as(src, &name, w),
                }
            });
            let extracted = to.extract(&root, std::io::BufReader::new(r), &opts);
            let written = writer.join().unwrap_or_else(|_| {
                Err(berth_kernel::cp::CpError::Refused("the copy panicked".into()))
            });
            written.map_err(cp_err(what))?;
            extracted.map_err(cp_err(what))
        })?;
    }
    Ok(linked)
}

/// `ADD archive.tar[.gz|.zst] /dir/`: a local archive is extracted into
/// the destination (its owners kept unless `--chown`), as Docker does;
/// `false` when the file is no archive (it is then copied as it is).
fn add_archive(from: &View, src: &str, to: &View, dest: &Dest, owner: (u32, u32)) -> Result<bool> {
    use std::io::Read;
    let what = dest.what;
    // The file's content, read through the source's view (its tar of one entry).
    let with_file = |f: &mut dyn FnMut(&mut dyn Read) -> Result<bool>| -> Result<bool> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| BuildError::Io { context: "pipe".into(), source: e.into() })?;
        let (r, w) = (std::fs::File::from(r), std::fs::File::from(w));
        std::thread::scope(|s| {
            let writer = s.spawn(move || from.archive_as(src, "f", std::io::BufWriter::new(w)));
            let mut archive = tar::Archive::new(std::io::BufReader::new(r));
            let result = match archive.entries().map(|mut e| e.next()) {
                Ok(Some(Ok(mut entry))) => f(&mut entry),
                _ => Ok(false),
            };
            drop(archive);
            // A writer cut short by a reader that had seen enough is no failure.
            let _ = writer.join();
            result
        })
    };
    let mut head = [0u8; 512];
    let sniffed = with_file(&mut |r| {
        let mut n = 0;
        while n < head.len() {
            match r.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => {
                    return Err(BuildError::Io { context: format!("{what} {src}"), source: e })
                }
            }
        }
        let compressed = head.starts_with(&[0x1f, 0x8b])
            || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
            || head.starts_with(b"BZh")
            || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]);
        Ok(compressed || (n >= 262 && &head[257..262] == b"ustar"))
    })?;
    if !sniffed {
        return Ok(false);
    }
    mkdir(to, &dest.path, (0, 0))?;
    let point = to.extraction_point(&dest.path).map_err(cp_err(what))?;
    let owners = match dest.chown {
        Some(_) => Owners::Fixed(owner.0, owner.1),
        None => Owners::Archive,
    };
    let opts = ExtractOptions { owners, mode: dest.chmod, ..Default::default() };
    with_file(&mut |r| to.extract(&point, r, &opts).map(|()| true).map_err(cp_err(what)))
}

/// Makes `path` (and its parents) a directory in `to` if it is not one (blocking).
pub(crate) fn mkdir(to: &View, path: &str, owner: (u32, u32)) -> Result<()> {
    mkdir_as(to, path, owner, 0o755)
}

/// [`mkdir`] with the new directory's mode (its missing parents get 0755).
pub(crate) fn mkdir_as(to: &View, path: &str, owner: (u32, u32), mode: u32) -> Result<()> {
    if to.stat(path).map(|s| s.mode & libc::S_IFMT == libc::S_IFDIR).unwrap_or(false) {
        return Ok(());
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(mode);
    h.set_size(0);
    tar.append_data(&mut h, format!("{}/", path.trim_matches('/')), std::io::empty())
        .and_then(|_| tar.finish())
        .map_err(|source| BuildError::Io { context: "WORKDIR".into(), source })?;
    let bytes =
        tar.into_inner().map_err(|source| BuildError::Io { context: "WORKDIR".into(), source })?;
    let root = to.extraction_point("/").map_err(cp_err("WORKDIR"))?;
    let opts = ExtractOptions { owners: Owners::Fixed(owner.0, owner.1), ..Default::default() };
    to.extract(&root, bytes.as_slice(), &opts).map_err(cp_err("WORKDIR"))
}

/// The context paths a source names: itself, or a glob's matches, sorted.
/// A glob may be in any element (`packages/*/package.json`; `**` matches
/// any number of directories); the directories it walks are plain ones
/// of the context, never links to one.
pub(crate) fn expand_glob(context: &Path, src: &str) -> Result<Vec<String>> {
    let clean = src.trim_start_matches("./").trim_start_matches('/');
    if !clean.contains(['*', '?', '[']) {
        return Ok(vec![clean.to_owned()]);
    }
    let parts: Vec<&str> = clean.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if parts.contains(&"..") {
        return Err(BuildError::Invalid(format!("{src}: a source can't leave the context")));
    }
    let join =
        |base: &str, n: &str| if base.is_empty() { n.to_owned() } else { format!("{base}/{n}") };
    let plain_dir =
        |rel: &str| std::fs::symlink_metadata(context.join(rel)).is_ok_and(|m| m.is_dir());
    let names = |rel: &str| -> Vec<String> {
        std::fs::read_dir(context.join(rel))
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    };
    let mut found = vec![String::new()];
    for part in parts {
        let mut next = Vec::new();
        for base in found.iter().filter(|b| plain_dir(b)) {
            if part == "**" {
                // This directory and every plain one below it.
                let mut stack = vec![base.clone()];
                while let Some(d) = stack.pop() {
                    stack.extend(names(&d).iter().map(|n| join(&d, n)).filter(|p| plain_dir(p)));
                    next.push(d);
                }
            } else if !part.contains(['*', '?', '[']) {
                let p = join(base, part);
                if std::fs::symlink_metadata(context.join(&p)).is_ok() {
                    next.push(p);
                }
            } else {
                let matching = names(base)
                    .into_iter()
                    .filter(|n| berth_dockerfile::ignore::element(part.as_bytes(), n.as_bytes()));
                next.extend(matching.map(|n| join(base, &n)));
            }
        }
        found = next;
    }
    found.retain(|p| !p.is_empty());
    found.sort();
    found.dedup();
    Ok(found)
}

/// `--parents`: what of a source's path is kept below the destination:
/// all of it, or what follows its last `/./`.
pub(crate) fn below_pivot<'a>(written: &str, path: &'a str) -> &'a str {
    let written = written.trim_start_matches("./").trim_start_matches('/');
    match written.rfind("/./") {
        Some(i) => {
            let pivot: Vec<&str> =
                written[..i].split('/').filter(|c| !c.is_empty() && *c != ".").collect();
            let skip: usize = pivot.iter().map(|c| c.len() + 1).sum();
            path.get(skip..).unwrap_or(path)
        }
        None => path,
    }
}

/// `root/rel` if no element on the way is a symlink (the last may be).
pub(crate) fn inside(root: &Path, rel: &str) -> Option<std::path::PathBuf> {
    let mut p = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    for (i, c) in parts.iter().enumerate() {
        if *c == ".." {
            return None;
        }
        p.push(c);
        let m = std::fs::symlink_metadata(&p).ok()?;
        if m.file_type().is_symlink() && i + 1 < parts.len() {
            return None;
        }
    }
    Some(p)
}

/// Whether a step changed nothing: its upper dir holds only the runtime's
/// empty mount points and the directories above them.
pub(crate) fn unchanged(upper: &Path, skip: &[&str]) -> bool {
    fn walk(dir: &Path, rel: &str, skip: &[&str]) -> bool {
        let Ok(rd) = std::fs::read_dir(dir) else { return false };
        for e in rd.flatten() {
            let p = format!("{rel}/{}", e.file_name().to_string_lossy());
            let Ok(m) = e.metadata() else { return false };
            let mount_point = skip.contains(&p.as_str()) && (m.is_dir() || m.len() == 0);
            let above = m.is_dir() && skip.iter().any(|s| s.starts_with(&format!("{p}/")));
            if mount_point && m.is_dir() && !walk(&e.path(), &p, &[]) {
                return false;
            }
            if !(mount_point || (above && walk(&e.path(), &p, skip))) {
                return false;
            }
        }
        true
    }
    walk(upper, "", skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upper_dir_of_mount_points_only_is_unchanged() {
        let d = tempfile::tempdir().unwrap();
        let skip = ["/proc", "/etc/hosts"];
        std::fs::create_dir_all(d.path().join("proc")).unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/hosts"), "").unwrap();
        assert!(unchanged(d.path(), &skip));
        std::fs::write(d.path().join("etc/passwd"), "x").unwrap();
        assert!(!unchanged(d.path(), &skip));
        std::fs::remove_file(d.path().join("etc/passwd")).unwrap();
        std::fs::write(d.path().join("etc/hosts"), "written").unwrap();
        assert!(!unchanged(d.path(), &skip));
    }

    #[test]
    fn globs_match_in_one_plain_directory() {
        let d = tempfile::tempdir().unwrap();
        for f in ["a.txt", "b.txt", "c.md"] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/x.txt"), "").unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("out")).unwrap();
        assert_eq!(expand_glob(d.path(), "*.txt").unwrap(), ["a.txt", "b.txt"]);
        assert_eq!(expand_glob(d.path(), "./sub/*.txt").unwrap(), ["sub/x.txt"]);
        assert!(expand_glob(d.path(), "out/*").unwrap().is_empty(), "never through a symlink");
        assert_eq!(expand_glob(d.path(), "c.md").unwrap(), ["c.md"]);
    }

    #[test]
    fn globs_match_in_any_element_and_double_stars_any_depth() {
        let d = tempfile::tempdir().unwrap();
        for f in ["packages/a/package.json", "packages/b/package.json", "packages/b/x/y.json"] {
            std::fs::create_dir_all(d.path().join(f).parent().unwrap()).unwrap();
            std::fs::write(d.path().join(f), "").unwrap();
        }
        std::os::unix::fs::symlink("/etc", d.path().join("packages/c")).unwrap();
        assert_eq!(
            expand_glob(d.path(), "packages/*/package.json").unwrap(),
            ["packages/a/package.json", "packages/b/package.json"]
        );
        assert_eq!(
            expand_glob(d.path(), "./packages/**/*.json").unwrap(),
            ["packages/a/package.json", "packages/b/package.json", "packages/b/x/y.json"]
        );
        assert!(expand_glob(d.path(), "packages/c/*").unwrap().is_empty(), "never through a link");
        assert!(expand_glob(d.path(), "*/../*").is_err());
    }

    #[test]
    fn parents_keep_what_follows_the_pivot() {
        assert_eq!(below_pivot("./x/a.txt", "x/a.txt"), "x/a.txt");
        assert_eq!(below_pivot("x/./y/*.txt", "x/y/b.txt"), "y/b.txt");
        assert_eq!(below_pivot("./a/b/./c/./d/e", "a/b/c/d/e"), "d/e");
    }
}
