//! ImageFsInfo: real usage of the image store (layers and blobs) and of containers' writable layers.

use crate::Cri;
use berth_proto::cri;
use tonic::Status;

pub(crate) async fn image_fs_info(c: &Cri) -> Result<cri::ImageFsInfoResponse, Status> {
    let paths = c.engine.paths().clone();
    let now = berth_proto_time_now();
    let usage = tokio::task::spawn_blocking(move || {
        // Images: unpacked layers plus the content store (both under the root).
        [(paths.layers(), Some(paths.blobs())), (paths.containers(), None)].map(|(dir, also)| {
            let mut u = berth_engine::disk_usage(&dir);
            if let Some(extra) = also {
                let e = berth_engine::disk_usage(&extra);
                u.bytes += e.bytes;
                u.inodes += e.inodes;
            }
            cri::FilesystemUsage {
                timestamp: now,
                fs_id: Some(cri::FilesystemIdentifier { mountpoint: dir.display().to_string() }),
                used_bytes: Some(cri::UInt64Value { value: u.bytes }),
                inodes_used: Some(cri::UInt64Value { value: u.inodes }),
            }
        })
    })
    .await
    .map_err(|e| Status::internal(e.to_string()))?;
    let [images, containers] = usage;
    Ok(cri::ImageFsInfoResponse {
        image_filesystems: vec![images],
        container_filesystems: vec![containers],
    })
}

fn berth_proto_time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
