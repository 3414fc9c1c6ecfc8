use super::into::ExtractOptions;
use super::*;
use std::io::Read;
use std::path::Path;

/// A directory standing in for a container's root.
fn view_of(dir: &Path) -> View {
    View { root: crate::fs::open_root(dir).unwrap(), descend: Vec::new() }
}

fn names(tarball: &[u8]) -> Vec<(String, tar::EntryType)> {
    let mut a = tar::Archive::new(tarball);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (String::from_utf8_lossy(&e.path_bytes()).into_owned(), e.header().entry_type()))
        .collect()
}

fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    name: &str,
    link: &str,
    body: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    b.append(&h, body).unwrap();
}

fn tarball(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    b.into_inner().unwrap()
}

/// A container root with a host-escaping link or two planted in it.
fn hostile_root() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:container:/root:/bin/sh\n").unwrap();
    std::os::unix::fs::symlink("/", r.join("up")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc", r.join("climb")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", r.join("pw")).unwrap();
    t
}

#[test]
fn paths_are_cleaned_as_docker_does() {
    assert_eq!(clean("etc/../etc//hosts"), "/etc/hosts");
    assert_eq!(clean("/../.."), "/");
    assert_eq!(clean("/etc/"), "/etc/");
    assert_eq!(clean("/etc/."), "/etc/.");
    assert_eq!(base("/etc/"), "etc");
    assert_eq!(base("/etc/."), ".");
    assert_eq!(base("/"), "/");
}

#[test]
fn symlinks_resolve_inside_the_root() {
    let t = hostile_root();
    let v = view_of(t.path());
    let s = v.stat("/pw").unwrap();
    assert_eq!(s.mode & libc::S_IFMT, libc::S_IFLNK);
    assert_eq!(s.link_target, "/etc/passwd");
    assert_eq!(v.stat("/climb").unwrap().link_target, "/etc");
    assert_eq!(v.stat("/up/up/climb/passwd").unwrap().size, 35);
    // Through every link: the container's passwd, never the host's.
    for p in ["/up/etc/passwd", "/climb/passwd", "/up/climb/../climb/passwd"] {
        let mut out = Vec::new();
        v.archive(p, &mut out).unwrap();
        let mut a = tar::Archive::new(out.as_slice());
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        let mut body = String::new();
        e.read_to_string(&mut body).unwrap();
        assert!(body.contains("container"), "{p} read {body:?}");
    }
    assert!(matches!(v.stat("/nope/x"), Err(CpError::NotFound(_))));
    std::os::unix::fs::symlink("/gone/far/away", t.path().join("dangling")).unwrap();
    assert_eq!(
        v.stat("/dangling").unwrap().link_target,
        "/gone/far/away",
        "a dangling link has a stat and a target"
    );
}

#[test]
fn an_archive_is_named_as_dockerd_names_it() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    std::fs::create_dir_all(r.join("d/sub")).unwrap();
    std::fs::write(r.join("d/sub/f"), "x").unwrap();
    std::fs::hard_link(r.join("d/sub/f"), r.join("d/h")).unwrap();
    std::os::unix::fs::symlink("sub/f", r.join("d/l")).unwrap();
    let long = "n".repeat(150);
    std::fs::write(r.join("d").join(&long), "long").unwrap();
    let v = view_of(r);
    let mut out = Vec::new();
    v.archive("/d", &mut out).unwrap();
    let got = names(&out);
    let want_long = format!("d/{long}");
    let mut expected: Vec<(&str, tar::EntryType)> = vec![
        ("d/", tar::EntryType::Directory),
        ("d/h", tar::EntryType::Regular),
        ("d/l", tar::EntryType::Symlink),
        (want_long.as_str(), tar::EntryType::Regular),
        ("d/sub/", tar::EntryType::Directory),
        ("d/sub/f", tar::EntryType::Link),
    ];
    expected.sort_by_key(|e| e.0);
    let mut got_sorted: Vec<(&str, tar::EntryType)> =
        got.iter().map(|(n, k)| (n.as_str(), *k)).collect();
    got_sorted.sort_by_key(|e| e.0);
    assert_eq!(got_sorted, expected);
    out.clear();
    v.archive("/d/.", &mut out).unwrap();
    assert!(names(&out).iter().all(|(n, _)| n.starts_with("./")), "{:?}", names(&out));
    out.clear();
    v.archive("/d/l", &mut out).unwrap();
    assert_eq!(names(&out), [("l".to_owned(), tar::EntryType::Symlink)]);
}

#[test]
fn extraction_stays_in_the_container() {
    let t = hostile_root();
    let r = t.path();
    let v = view_of(r);
    // The extraction point's links resolve inside: /up/etc is the container's /etc.
    let point = v.extraction_point("/up/etc").unwrap();
    assert_eq!(point.path, "/etc");
    let outside = tempfile::tempdir().unwrap();
    let planted = outside.path().display().to_string();
    let data = tarball(|b| {
        // A link in the archive, then a file through it: lands in the container's root.
        raw_entry(b, tar::EntryType::Symlink, "esc", &planted, b"");
        raw_entry(b, tar::EntryType::Regular, "esc/owned", "", b"x");
        // The container's own link to "/" is walked inside too.
        raw_entry(b, tar::EntryType::Regular, "../up/etc/shadow-not", "", b"x");
    });
    let err = v.extract(&point, data.as_slice(), &ExtractOptions::default());
    assert!(
        matches!(err, Err(CpError::Refused(_))),
        "a name climbing out of the destination is refused: {err:?}"
    );
    assert!(
        r.join(planted.trim_start_matches('/')).join("owned").exists(),
        "through the archive's own link, inside the root"
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written on the host"
    );
    // Hardlinks may not reach outside the destination.
    let data = tarball(|b| raw_entry(b, tar::EntryType::Link, "h", "../passwd", b""));
    let point = v.extraction_point("/etc").unwrap();
    assert!(matches!(
        v.extract(&point, data.as_slice(), &ExtractOptions::default()),
        Err(CpError::Refused(_))
    ));
    // A file replaces the link standing at its name: it is not written through.
    let data = tarball(|b| raw_entry(b, tar::EntryType::Regular, "pw", "", b"new"));
    v.extract(&v.extraction_point("/").unwrap(), data.as_slice(), &ExtractOptions::default())
        .unwrap();
    assert_eq!(std::fs::read_to_string(r.join("pw")).unwrap(), "new");
    assert!(std::fs::read_to_string(r.join("etc/passwd")).unwrap().contains("container"));
    assert!(matches!(v.extraction_point("/etc/passwd"), Err(CpError::NotADirectory)));
    assert!(matches!(v.extraction_point("/missing"), Err(CpError::NotFound(_))));
}

#[test]
fn no_overwrite_dir_non_dir_refuses_both_ways() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("d")).unwrap();
    std::fs::write(t.path().join("f"), "x").unwrap();
    let v = view_of(t.path());
    let point = v.extraction_point("/").unwrap();
    let strict = &ExtractOptions { no_overwrite_dir_non_dir: true, ..Default::default() };
    let file_on_dir = tarball(|b| raw_entry(b, tar::EntryType::Regular, "d", "", b"x"));
    assert!(matches!(v.extract(&point, file_on_dir.as_slice(), strict), Err(CpError::Refused(_))));
    let dir_on_file = tarball(|b| raw_entry(b, tar::EntryType::Directory, "f/", "", b""));
    assert!(matches!(v.extract(&point, dir_on_file.as_slice(), strict), Err(CpError::Refused(_))));
    // Without the option, as tar: replaced.
    v.extract(&point, file_on_dir.as_slice(), &ExtractOptions::default()).unwrap();
    assert!(t.path().join("d").is_file());
}

#[test]
fn a_tree_round_trips() {
    let a = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(a.path().join("src/deep/er")).unwrap();
    std::fs::write(a.path().join("src/deep/er/f"), "content").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", a.path().join("src/l")).unwrap();
    let mut out = Vec::new();
    view_of(a.path()).archive("/src", &mut out).unwrap();
    let b = tempfile::tempdir().unwrap();
    std::fs::create_dir(b.path().join("dst")).unwrap();
    let v = view_of(b.path());
    v.extract(
        &v.extraction_point("/dst").unwrap(),
        out.as_slice(),
        &ExtractOptions {
            no_overwrite_dir_non_dir: true,
            owners: into::Owners::Fixed(1234, 5678),
            rename_top: Some(("src".into(), "renamed".into())),
            mode: None,
            keep_identical: false,
        },
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(b.path().join("dst/renamed/deep/er/f")).unwrap(), "content");
    assert_eq!(
        std::fs::read_link(b.path().join("dst/renamed/l")).unwrap(),
        Path::new("/etc/passwd")
    );
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(b.path().join("dst/renamed/deep/er/f")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1234, 5678));
}

#[test]
fn a_stopped_containers_view_is_mounted_nowhere() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    for d in ["lower/etc", "upper", "work", "vol"] {
        std::fs::create_dir_all(p.join(d)).unwrap();
    }
    std::fs::write(p.join("lower/etc/x"), "image").unwrap();
    std::fs::write(p.join("vol/data"), "volume").unwrap();
    let mounts = [Mount { source: p.join("vol"), destination: "/srv/vol".into(), read_only: true }];
    let v = View::detached(&[p.join("lower")], &p.join("upper"), &p.join("work"), false, &mounts)
        .unwrap();
    assert_eq!(v.stat("/etc/x").unwrap().size, 5);
    assert_eq!(v.stat("/srv/vol/data").unwrap().size, 6);
    let mut out = Vec::new();
    v.archive("/srv", &mut out).unwrap();
    assert!(
        names(&out).iter().any(|(n, _)| n == "srv/vol/data"),
        "the volume is entered: {:?}",
        names(&out)
    );
    // Writes go to the upper dir; the read-only volume refuses them.
    let data = tarball(|b| raw_entry(b, tar::EntryType::Regular, "new", "", b"n"));
    v.extract(&v.extraction_point("/etc").unwrap(), data.as_slice(), &ExtractOptions::default())
        .unwrap();
    assert_eq!(std::fs::read_to_string(p.join("upper/etc/new")).unwrap(), "n");
    let err = v
        .extract(
            &v.extraction_point("/srv/vol").unwrap(),
            data.as_slice(),
            &ExtractOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.errno(), Some(libc::EROFS), "{err:?}");
    drop(v);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&p.display().to_string()),
        "nothing of the view is mounted in this namespace"
    );
}

#[test]
fn an_upper_dir_is_a_diff_and_a_layer() {
    use super::changes::{changes, ChangeKind};
    let t = tempfile::tempdir().unwrap();
    let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
    std::fs::create_dir_all(lower.join("etc")).unwrap();
    std::fs::write(lower.join("etc/a"), "old").unwrap();
    std::fs::write(lower.join("etc/b"), "gone").unwrap();
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::fs::write(upper.join("etc/a"), "new").unwrap();
    std::fs::write(upper.join("etc/c"), "added").unwrap();
    nix::sys::stat::mknod(&upper.join("etc/b"), nix::sys::stat::SFlag::S_IFCHR, Mode::empty(), 0)
        .unwrap();
    let got = changes(&upper, std::slice::from_ref(&lower)).unwrap();
    let want = [
        ("/etc", ChangeKind::Modified),
        ("/etc/a", ChangeKind::Modified),
        ("/etc/b", ChangeKind::Deleted),
        ("/etc/c", ChangeKind::Added),
    ];
    assert_eq!(got, want.map(|(p, k)| (p.to_owned(), k)));
    let mut out = Vec::new();
    std::fs::create_dir(upper.join("proc")).unwrap();
    View::of_dir(&upper).unwrap().layer(&["/proc"], &mut out).unwrap();
    let mut n: Vec<String> = names(&out).into_iter().map(|(n, _)| n).collect();
    n.sort();
    assert_eq!(n, ["etc/", "etc/.wh.b", "etc/a", "etc/c"]);
    // An export has every name from the root and no root entry.
    out.clear();
    View::of_dir(&lower).unwrap().export(&mut out).unwrap();
    let mut n: Vec<String> = names(&out).into_iter().map(|(n, _)| n).collect();
    n.sort();
    assert_eq!(n, ["etc/", "etc/a", "etc/b"]);
}

#[test]
fn remove_takes_out_links_and_trees_inside_the_root_only() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("keep"), b"x").unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("d/e")).unwrap();
    std::fs::write(r.join("d/e/f"), b"f").unwrap();
    std::os::unix::fs::symlink(outside.path(), r.join("out")).unwrap();
    let v = view_of(r);
    // A path through a symlink stays inside the root: nothing outside goes.
    v.remove("out/keep").unwrap();
    assert!(outside.path().join("keep").exists());
    v.remove("out").unwrap();
    assert!(outside.path().join("keep").exists() && !r.join("out").exists());
    v.remove("../d").unwrap();
    assert!(!r.join("d").exists());
    v.remove("missing/too").unwrap();
    assert!(v.remove("/").is_err());
}

#[test]
fn keep_identical_keeps_the_same_file_and_replaces_a_changed_one() {
    use std::os::unix::fs::MetadataExt;
    let root = tempfile::tempdir().unwrap();
    let v = view_of(root.path());
    let point = v.extraction_point("/").unwrap();
    let tar_of = |body: &[u8]| {
        tarball(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_000_000);
            b.append_data(&mut h, "d/f", body).unwrap();
        })
    };
    let opts =
        ExtractOptions { keep_identical: true, owners: Owners::Caller, ..Default::default() };
    let names = v.extract_names(&point, &tar_of(b"same")[..], &opts).unwrap();
    assert_eq!(names, ["d/f"]);
    // A file's identity: its inode and birth time (an inode number is reused at once).
    let ino = || {
        let m = std::fs::metadata(root.path().join("d/f")).unwrap();
        (m.ino(), m.created().unwrap())
    };
    let first = ino();
    v.extract_names(&point, &tar_of(b"same")[..], &opts).unwrap();
    assert_eq!(ino(), first, "an identical file is kept");
    v.extract_names(&point, &tar_of(b"diff")[..], &opts).unwrap();
    assert_ne!(ino(), first, "a changed one is a new file");
    assert_eq!(std::fs::read(root.path().join("d/f")).unwrap(), b"diff");
}

#[test]
fn bzip2_and_xz_archives_are_extracted() {
    use std::io::Write;
    let plain = tarball(|b| {
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "x", &b"hi"[..]).unwrap();
    });
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&plain).unwrap();
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&plain).unwrap();
    for packed in [bz.finish().unwrap(), xz.finish().unwrap()] {
        let root = tempfile::tempdir().unwrap();
        let v = view_of(root.path());
        let opts = ExtractOptions { owners: Owners::Caller, ..Default::default() };
        v.extract(&v.extraction_point("/").unwrap(), &packed[..], &opts).unwrap();
        assert_eq!(std::fs::read(root.path().join("x")).unwrap(), b"hi");
    }
}

#[test]
fn an_archive_leaves_out_what_it_is_told_to() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    std::fs::create_dir_all(r.join("d/sub/deep")).unwrap();
    std::fs::create_dir_all(r.join("d/gone")).unwrap();
    for f in ["d/a.txt", "d/b.md", "d/sub/c.txt", "d/sub/deep/e", "d/gone/f"] {
        std::fs::write(r.join(f), "x").unwrap();
    }
    let v = view_of(r);
    let mut out = Vec::new();
    let seen = std::sync::Mutex::new(Vec::new());
    let skip = |p: &str| {
        seen.lock().unwrap().push(p.to_owned());
        p.ends_with(".txt") && !p.contains('/') || p == "gone"
    };
    v.archive_without("/d", "to", &skip, &mut out).unwrap();
    let mut got: Vec<String> = names(&out).into_iter().map(|(n, _)| n).collect();
    got.sort();
    assert_eq!(got, ["to/", "to/b.md", "to/sub/", "to/sub/c.txt", "to/sub/deep/", "to/sub/deep/e"]);
    // Paths below the root; a skipped directory is not walked.
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.contains(&"sub/deep/e".to_owned()) && !seen.iter().any(|p| p.starts_with("gone/"))
    );
}

#[test]
fn empty_mount_points_go_with_the_dirs_made_for_them() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    // A secret's stub and the dirs made for it; a stub next to a real file; an opaque dir.
    std::fs::create_dir_all(r.join("run/secrets")).unwrap();
    std::fs::write(r.join("run/secrets/token"), "").unwrap();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/hosts"), "").unwrap();
    std::fs::write(r.join("etc/written"), "x").unwrap();
    std::fs::create_dir_all(r.join("cache/mnt")).unwrap();
    let cache = std::fs::File::open(r.join("cache")).unwrap();
    crate::fs::fsetxattr(&cache, "trusted.overlay.opaque", b"y").unwrap();
    let v = view_of(r);
    v.remove_empty(&["/run/secrets/token", "/etc/hosts", "/cache/mnt", "/not/there"]).unwrap();
    assert!(!r.join("run").exists(), "the dirs made for the stub go too");
    assert!(!r.join("etc/hosts").exists() && r.join("etc/written").exists());
    assert!(r.join("cache").exists() && !r.join("cache/mnt").exists(), "an opaque dir stays");
}
