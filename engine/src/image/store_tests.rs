//! The image store as `docker tag`, `rmi`, `image prune`, `history` and
//! `save` use it, over an engine of `crate::testing` (no registry, no root):
//! tags, what a removal untags or deletes, what in-use and leases keep.

use crate::container::DockerOptions;
use crate::error::Error;
use crate::testing::TestNode;

const FIRST: &str = "unit.test/rootfs:1";

/// A second image: a container's change committed.
async fn second_image(n: &TestNode, tag: &str) -> String {
    let id = n.create(&format!("c{}", tag.len()), DockerOptions::default()).await;
    let upper = n.engine.paths().container(&id).unwrap().join("fs/upper");
    std::fs::write(upper.join("new"), b"x").unwrap();
    let request = crate::image::CommitRequest { reference: tag.into(), ..Default::default() };
    let opts = crate::container::CommitOptions { request, pause: false, config: None };
    let img = n.engine.commit_container(&id, opts).await.unwrap();
    n.engine.remove(&id, false).await.unwrap();
    img.id
}

#[tokio::test]
async fn a_tag_names_one_image_and_moves_when_given_to_another() {
    let n = TestNode::new().await;
    let images = n.engine.images();
    images.tag(FIRST, "unit.test/app:v1").unwrap();
    assert_eq!(images.resolve("unit.test/app:v1").unwrap().id, n.image);
    let second = second_image(&n, "unit.test/app:v2").await;
    images.tag("unit.test/app:v2", "unit.test/app:v1").unwrap();
    assert_eq!(images.resolve("unit.test/app:v1").unwrap().id, second);
    let first = images.resolve(&n.image).unwrap();
    assert!(!first.repo_tags.iter().any(|t| t.ends_with("app:v1")), "{:?}", first.repo_tags);
    // By unique id prefix, as Docker resolves them.
    assert_eq!(images.resolve(&second[7..19]).unwrap().id, second);
    assert!(matches!(images.resolve("unit.test/none:1"), Err(Error::NotFound(_))));
    assert!(images.tag(FIRST, "UPPER/case").is_err(), "an invalid reference");
}

#[tokio::test]
async fn rmi_of_one_of_several_tags_only_untags_and_by_id_needs_force() {
    let n = TestNode::new().await;
    let images = n.engine.images();
    images.tag(FIRST, "unit.test/app:v1").unwrap();
    let out = n.engine.remove_image("unit.test/app:v1", false).unwrap();
    assert_eq!((out.untagged.len(), out.deleted.len()), (1, 0));
    assert!(images.resolve(&n.image).is_ok());
    images.tag(FIRST, "unit.test/app:v1").unwrap();
    let e = n.engine.remove_image(&n.image, false).unwrap_err();
    assert!(e.to_string().contains("must be forced"), "{e}");
    let out = n.engine.remove_image(&n.image, true).unwrap();
    // As dockerd lists them: the image, then the layers that went with it.
    assert_eq!((out.untagged.len(), out.deleted[0].as_str()), (2, n.image.as_str()));
    assert_eq!(out.deleted.len(), 2);
    assert!(images.resolve(&n.image).is_err());
}

#[tokio::test]
async fn a_removed_image_takes_the_layers_and_blobs_only_it_held() {
    let n = TestNode::new().await;
    let second = second_image(&n, "unit.test/app:v2").await;
    let img = n.engine.images().resolve(&second).unwrap();
    let layers = n.engine.images().lower_dirs(&img).unwrap();
    let (own, shared) = (layers[0].clone(), layers[1].clone());
    n.engine.remove_image(&second, false).unwrap();
    assert!(!own.exists(), "its own layer went");
    assert!(shared.exists(), "the first image's layer stays");
    for blob in &img.blobs {
        let held = n.engine.images().resolve(&n.image).unwrap().blobs.contains(blob);
        assert_eq!(n.engine.paths().blob(blob).unwrap().exists(), held, "{blob}");
    }
}

#[tokio::test]
async fn a_layer_a_snapshot_holds_outlives_its_image_until_released() {
    let n = TestNode::new().await;
    let img = n.engine.images().resolve(&n.image).unwrap();
    let layer = n.engine.images().lower_dirs(&img).unwrap()[0].clone();
    let snapshot = n.engine.snapshots().prepare(&img.layers).unwrap();
    n.engine.remove_image(&n.image, false).unwrap();
    assert!(layer.exists(), "leased");
    n.engine.remove_snapshot(snapshot).unwrap();
    assert!(!layer.exists(), "released with the snapshot");
}

#[tokio::test]
async fn prune_takes_dangling_images_or_every_unused_one() {
    let n = TestNode::new().await;
    let second = second_image(&n, "unit.test/app:v2").await;
    // Dangling: the second loses its tag to the first.
    n.engine.images().tag(FIRST, "unit.test/app:v2").unwrap();
    let out = n.engine.prune_images(false).unwrap();
    assert_eq!(out.deleted[0], second);
    assert_eq!(out.deleted.len(), 2, "the image and its own layer");
    assert!(out.reclaimed > 0);
    // Every unused one, unless a container uses it.
    let id = n.create("web", DockerOptions::default()).await;
    assert!(n.engine.prune_images(true).unwrap().deleted.is_empty());
    n.engine.remove(&id, false).await.unwrap();
    assert_eq!(n.engine.prune_images(true).unwrap().deleted[0], n.image);
    assert!(n.engine.images().list().is_empty());
}

#[tokio::test]
async fn save_writes_docker_s_archive_of_what_the_store_holds() {
    let n = TestNode::new().await;
    let plan = n.engine.images().plan_save(&[FIRST.to_owned()]).unwrap();
    let mut rx = n.engine.save_images(plan);
    let mut archive = Vec::new();
    while let Some(chunk) = rx.recv().await {
        archive.extend(chunk.unwrap());
    }
    let mut names: Vec<String> = tar::Archive::new(&archive[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert!(names.contains(&"manifest.json".to_owned()), "{names:?}");
    assert!(names.contains(&"index.json".to_owned()), "{names:?}");
    let hex = n.image.trim_start_matches("sha256:");
    assert!(names.contains(&format!("blobs/sha256/{hex}")), "{names:?}");
    assert!(n.engine.images().plan_save(&[]).is_err());
    assert!(n.engine.images().plan_save(&["unit.test/none:1".into()]).is_err());
}
