//! RemoveImage: idempotent, as the CRI contract asks; an image that
//! containers still use is refused (FailedPrecondition).

use crate::Cri;
use berth_proto::cri;
use tonic::Status;

pub(crate) fn remove_image(
    c: &Cri,
    req: cri::RemoveImageRequest,
) -> Result<cri::RemoveImageResponse, Status> {
    let name = super::image_name(req.image)?;
    // CRI removes the image itself (all its tags), whatever name it is given by.
    let rec = match c.engine.images().resolve(&name) {
        Ok(r) => r,
        Err(berth_engine::Error::NotFound(_)) => return Ok(cri::RemoveImageResponse {}),
        Err(e) => return Err(e.into()),
    };
    // Containers run on the image's layers: like CRI-O, refuse while they exist.
    if c.engine.image_in_use(&rec.id) {
        return Err(Status::failed_precondition(format!("image {name} is in use by a container")));
    }
    match c.engine.remove_image(&rec.id, true) {
        Ok(_) | Err(berth_engine::Error::NotFound(_)) => Ok(cri::RemoveImageResponse {}),
        Err(e) => Err(e.into()),
    }
}
