//! ImageStatus: an absent image is an empty answer, not an error.

use crate::Cri;
use berth_proto::cri;
use tonic::Status;

pub(crate) fn image_status(
    c: &Cri,
    req: cri::ImageStatusRequest,
) -> Result<cri::ImageStatusResponse, Status> {
    let name = super::image_name(req.image)?;
    let rec = match c.engine.images().resolve(&name) {
        Ok(r) => r,
        Err(berth_engine::Error::NotFound(_)) => return Ok(cri::ImageStatusResponse::default()),
        Err(e) => return Err(e.into()),
    };
    let mut info = std::collections::HashMap::new();
    if req.verbose {
        info.insert(
            "info".to_owned(),
            serde_json::json!({ "id": rec.id, "layers": rec.layers, "config": rec.config })
                .to_string(),
        );
    }
    Ok(cri::ImageStatusResponse { image: Some(super::to_cri(&rec)), info })
}
