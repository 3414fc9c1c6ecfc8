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
    Ok(if !a.registry_token.is_empty() {
        Credentials::Bearer(a.registry_token)
    } else if !a.identity_token.is_empty() {
        Credentials::Identity { username: a.username, token: a.identity_token }
    } else if !a.username.is_empty() {
        Credentials::Basic { username: a.username, password: a.password }
    } else if !a.auth.is_empty() {
        Credentials::from_auth_field(&a.auth).ok_or_else(|| Status::invalid_argument("auth: not base64 of user:password"))?
    } else {
        Credentials::Anonymous
    })
}

pub(crate) async fn pull_image(c: &Cri, req: cri::PullImageRequest) -> Result<cri::PullImageResponse, Status> {
    let name = super::image_name(req.image)?;
    let pr = PullRequest { reference: name, credentials: credentials(req.auth)?, platform: None };
    let img = c.engine.images().pull(pr, None).await?;
    Ok(cri::PullImageResponse { image_ref: img.id })
}
