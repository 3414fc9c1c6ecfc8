//! PullImage: pulls from the registry with the request's credentials
//! (username/password, Docker's `auth`, an identity or registry token).

use crate::Cri;
use berth_engine::image::PullRequest;
use berth_proto::cri;
use berth_registry::Credentials;
use tonic::Status;

/// CRI credentials in the registry client's terms.
pub(crate) fn credentials(a: Option<cri::AuthConfig>) -> Result<Credentials, Status> {
    let Some(a) = a else { return Ok(Credentials::Anonymous) };
    Credentials::from_fields(
        &a.username,
        &a.password,
        &a.auth,
        &a.identity_token,
        &a.registry_token,
    )
    .ok_or_else(|| Status::invalid_argument("auth: not base64 of user:password"))
}

pub(crate) async fn pull_image(
    c: &Cri,
    req: cri::PullImageRequest,
) -> Result<cri::PullImageResponse, Status> {
    let name = super::image_name(req.image)?;
    let pr = PullRequest { reference: name, credentials: credentials(req.auth)?, platform: None };
    let img = c.engine.images().pull(pr, None).await?;
    Ok(cri::PullImageResponse { image_ref: img.id })
}
