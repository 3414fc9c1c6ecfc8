//! ListImages, optionally filtered by an image name or id.

use crate::Cri;
use berth_proto::cri;
use tonic::Status;

pub(crate) fn list_images(
    c: &Cri,
    req: cri::ListImagesRequest,
) -> Result<cri::ListImagesResponse, Status> {
    let wanted = req.filter.and_then(|f| f.image).map(|s| s.image).filter(|i| !i.is_empty());
    let images = match wanted {
        Some(name) => match c.engine.images().resolve(&name) {
            Ok(r) => vec![super::to_cri(&r)],
            Err(berth_engine::Error::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        },
        None => c.engine.images().list().iter().map(super::to_cri).collect(),
    };
    Ok(cri::ListImagesResponse { images })
}
