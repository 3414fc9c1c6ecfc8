//! Snapshots over a real image store in a temp dir: what prepare makes,
//! what commit stores (whiteouts included), and that a lease keeps a
//! layer through an image removal until the snapshot lets go of it.

use super::*;
use crate::image::{ImageRecord, ImageStore};

struct Store {
    _dir: tempfile::TempDir,
    paths: Paths,
    images: ImageStore,
    snapshots: Snapshots,
}

fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("root"), dir.path().join("state"));
    let images = ImageStore::open(&paths, &Default::default()).unwrap();
    let snapshots = Snapshots::open(&paths, images.leases().clone()).unwrap();
    Store { _dir: dir, paths, images, snapshots }
}

/// A stored layer with one file; its diff id.
fn layer(s: &Store, n: u8, file: &str) -> String {
    let hex = format!("{n:02x}").repeat(32);
    let dir = s.paths.layer(&hex).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), file).unwrap();
    format!("sha256:{hex}")
}

/// An image of `layers`, untagged, stored.
fn image(s: &Store, layers: &[String]) -> ImageRecord {
    let config_json = format!("{{\"layers\":{layers:?}}}");
    let rec = ImageRecord {
        id: berth_registry::digest::of(config_json.as_bytes()),
        repo_tags: vec![],
        repo_digests: vec![],
        manifest: None,
        manifest_media_type: None,
        blobs: vec![],
        layers: layers.to_vec(),
        config: Default::default(),
        created_unix_nanos: 0,
        size: 0,
        config_json,
    };
    s.images.add(rec).unwrap()
}

fn unused(_: &str) -> bool {
    false
}

#[test]
fn prepare_makes_a_writable_root_over_the_parents_topmost_first() {
    let s = store();
    let (a, b) = (layer(&s, 1, "a"), layer(&s, 2, "b"));
    let snap = s.snapshots.prepare(&[a.clone(), b.clone(), a.clone()]).unwrap();
    // A layer twice appears once, at its topmost place (as an image's lower dirs).
    let hex = |d: &str| s.paths.layer(d.trim_start_matches("sha256:")).unwrap();
    let l = snap.layout();
    assert_eq!(l.lower, [hex(&a), hex(&b)]);
    assert!(l.upper.is_dir() && l.work.is_dir());

    let missing = format!("sha256:{}", "ee".repeat(32));
    let e = s.snapshots.prepare(&[a, missing]).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    // The failed prepare made no dir and holds nothing.
    let left = std::fs::read_dir(s.paths.root.join("snapshots")).unwrap().count();
    assert_eq!(left, 1, "only the first snapshot");
    assert!(!s.images.leases().holds(&format!("sha256:{}", "ee".repeat(32))));
}

#[tokio::test]
async fn commit_stores_the_changes_as_a_layer_with_whiteouts() {
    let s = store();
    let base = layer(&s, 3, "old");
    let snap = s.snapshots.prepare(&[base]).unwrap();
    std::fs::write(snap.layout().upper.join("new.txt"), "hello").unwrap();
    // An overlay whiteout: the parent's `old` deleted.
    nix::sys::stat::mknod(
        &snap.layout().upper.join("old"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
    let c = s.snapshots.commit(&snap.layout(), &[]).await.unwrap();
    assert!(s.images.leases().holds(&c.diff_id) && s.images.leases().holds(&c.blob_digest));
    let dir = s.paths.layer(c.diff_id.trim_start_matches("sha256:")).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("new.txt")).unwrap(), "hello");
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let wh = std::fs::symlink_metadata(dir.join("old")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0, "the whiteout is kept");
    assert!(s.paths.blob(&c.blob_digest).unwrap().is_file());

    // Nothing took the layer: releasing its lease collects it.
    s.images.release(c.lease);
    assert!(!dir.exists() && !s.paths.blob(&c.blob_digest).unwrap().exists());
    let lease = s.snapshots.remove(snap).unwrap();
    s.images.release(lease);
}

#[tokio::test]
async fn commit_taking_moves_the_upper_dir_and_stores_what_commit_stores() {
    let s = store();
    let base = layer(&s, 4, "old");
    let fill = |upper: &std::path::Path| {
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/hosts"), "").unwrap(); // an empty mount point
        std::fs::write(upper.join("etc/app.conf"), "conf").unwrap();
        std::fs::write(upper.join("app.txt"), "hello").unwrap();
    };
    let copied = s.snapshots.prepare(std::slice::from_ref(&base)).unwrap();
    fill(&copied.layout().upper);
    let c = s.snapshots.commit(&copied.layout(), &["/etc/hosts"]).await.unwrap();
    // The base stays held by the second snapshot while the first goes.
    let taken = s.snapshots.prepare(&[base]).unwrap();
    s.images.release(c.lease);
    s.images.release(s.snapshots.remove(copied).unwrap());
    let upper = taken.layout().upper;
    fill(&upper);
    let t = s.snapshots.commit_taking(&taken, &["/etc/hosts"]).await.unwrap();
    assert_eq!(
        (t.diff_id.as_str(), t.blob_digest.as_str()),
        (c.diff_id.as_str(), c.blob_digest.as_str())
    );
    assert!(!upper.exists(), "the upper dir became the layer");
    let dir = s.paths.layer(t.diff_id.trim_start_matches("sha256:")).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("app.txt")).unwrap(), "hello");
    assert!(dir.join("etc/app.conf").is_file() && !dir.join("etc/hosts").exists());
    assert!(s.paths.blob(&t.blob_digest).unwrap().is_file());
    s.images.release(t.lease);
    s.images.release(s.snapshots.remove(taken).unwrap());
    assert!(!dir.exists());
}

#[test]
fn a_leased_layer_outlives_its_images_removal_until_the_snapshot_goes() {
    let s = store();
    let (a, b) = (layer(&s, 4, "a"), layer(&s, 5, "b"));
    let img = image(&s, &[a.clone(), b.clone()]);
    let snap = s.snapshots.prepare(std::slice::from_ref(&a)).unwrap();
    let out = s.images.remove(&img.id, false, unused).unwrap();
    let dir = |d: &str| s.paths.layer(d.trim_start_matches("sha256:")).unwrap();
    // The unleased layer went with the image; the leased one stays.
    assert!(out.deleted.contains(&b) && !out.deleted.contains(&a));
    assert!(dir(&a).is_dir() && !dir(&b).exists());
    let key_dir = s.paths.root.join("snapshots").join(snap.key());
    let lease = s.snapshots.remove(snap).unwrap();
    assert!(!key_dir.exists());
    s.images.release(lease);
    assert!(!dir(&a).exists(), "released, and no image uses it");
}

#[test]
fn a_release_keeps_what_an_image_still_uses() {
    let s = store();
    let a = layer(&s, 6, "a");
    image(&s, std::slice::from_ref(&a));
    let snap = s.snapshots.prepare(std::slice::from_ref(&a)).unwrap();
    let lease = s.snapshots.remove(snap).unwrap();
    s.images.release(lease);
    assert!(s.paths.layer(a.trim_start_matches("sha256:")).unwrap().is_dir());
}

#[test]
fn open_sweeps_what_a_stopped_berthd_left() {
    let s = store();
    let snap = s.snapshots.prepare(&[]).unwrap();
    std::fs::write(snap.layout().upper.join("f"), "x").unwrap();
    let again = Snapshots::open(&s.paths, s.images.leases().clone()).unwrap();
    assert_eq!(std::fs::read_dir(&again.dir).unwrap().count(), 0);
}

#[test]
fn a_kept_snapshot_lives_in_its_owner_s_dir_with_no_lease() {
    let s = store();
    let (a, b) = (layer(&s, 7, "a"), layer(&s, 8, "b"));
    let dir = s.paths.root.join("containers/c1/fs");
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    s.snapshots.prepare_kept(&dir, None).unwrap();
    let l = s.snapshots.kept(&dir, &[a.clone(), b.clone()]).unwrap();
    let hex = |d: &str| s.paths.layer(d.trim_start_matches("sha256:")).unwrap();
    assert_eq!(l.lower, [hex(&b), hex(&a)]);
    assert_eq!((l.upper.clone(), l.work.clone()), (dir.join("upper"), dir.join("work")));
    assert!(l.upper.is_dir() && l.work.is_dir());
    assert!(!s.images.leases().holds(&a), "the owner's record holds its image");
    // A second prepare at the same place is refused and leaves the first.
    assert!(s.snapshots.prepare_kept(&dir, None).is_err());
    std::fs::write(l.upper.join("new"), "x").unwrap();
    let changes = l.changes().unwrap();
    assert_eq!(changes, [("/new".to_string(), ChangeKind::Added)]);
}

#[test]
fn a_snapshot_over_nothing_has_an_empty_lower_dir() {
    let s = store();
    let snap = s.snapshots.prepare(&[]).unwrap();
    let l = snap.layout();
    assert_eq!(l.lower.len(), 1, "overlayfs wants one");
    assert_eq!(std::fs::read_dir(&l.lower[0]).unwrap().count(), 0);
    assert!(l.lower[0].starts_with(s.paths.root.join("snapshots")));
}
