//! PullImage. Until registry pulls land (the images issue), only images
//! already in the store "pull"; anything else is a clear NotFound.

use crate::Cri;
use berth_proto::cri;
use tonic::Status;

pub(crate) fn pull_image(c: &Cri, req: cri::PullImageRequest) -> Result<cri::PullImageResponse, Status> {
    let name = super::image_name(req.image)?;
    match c.engine.images().resolve(&name) {
        Ok(r) => Ok(cri::PullImageResponse { image_ref: r.id }),
        Err(berth_engine::Error::NotFound(_)) => Err(Status::not_found(format!(
            "image {name:?} is not in berth's store, and pulling from registries is not supported yet; import it with `berth import`"
        ))),
        Err(e) => Err(e.into()),
    }
}
