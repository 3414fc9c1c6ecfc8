//! ImageService over the engine's image store.

mod fs_info;
mod list;
mod pull;
mod remove;
mod status;

use crate::Cri;
use berth_engine::image::ImageRecord;
use berth_proto::cri;
use berth_proto::cri::image_service_server::ImageService;
use tonic::{Request, Response, Status};

/// An image as CRI describes it. The image's user is reported as a uid when
/// numeric and as a username otherwise (kubelet's runAsNonRoot checks).
pub(crate) fn to_cri(r: &ImageRecord) -> cri::Image {
    let user = r.config.user.clone().unwrap_or_default();
    let name = user.split(':').next().unwrap_or("").to_owned();
    let (uid, username) = match name.parse::<i64>() {
        Ok(n) => (Some(cri::Int64Value { value: n }), String::new()),
        Err(_) if name.is_empty() => (Some(cri::Int64Value { value: 0 }), String::new()),
        Err(_) => (None, name),
    };
    cri::Image {
        id: r.id.clone(),
        repo_tags: r.repo_tags.clone(),
        repo_digests: r.repo_digests.clone(),
        size: r.size,
        uid,
        username,
        spec: Some(cri::ImageSpec { image: r.id.clone(), ..Default::default() }),
        pinned: false,
    }
}

/// The image named by a request's spec, which must be present.
pub(crate) fn image_name(spec: Option<cri::ImageSpec>) -> Result<String, Status> {
    match spec {
        Some(s) if !s.image.is_empty() => Ok(s.image),
        _ => Err(Status::invalid_argument("image spec is required")),
    }
}

#[tonic::async_trait]
impl ImageService for Cri {
    async fn list_images(
        &self,
        req: Request<cri::ListImagesRequest>,
    ) -> Result<Response<cri::ListImagesResponse>, Status> {
        list::list_images(self, req.into_inner()).map(Response::new)
    }

    type StreamImagesStream = crate::stream::ItemStream<cri::StreamImagesResponse>;

    async fn stream_images(
        &self,
        req: Request<cri::StreamImagesRequest>,
    ) -> Result<Response<Self::StreamImagesStream>, Status> {
        let list =
            list::list_images(self, cri::ListImagesRequest { filter: req.into_inner().filter })?;
        Ok(Response::new(crate::stream::chunked(list.images, |images| cri::StreamImagesResponse {
            images,
        })))
    }

    async fn image_status(
        &self,
        req: Request<cri::ImageStatusRequest>,
    ) -> Result<Response<cri::ImageStatusResponse>, Status> {
        status::image_status(self, req.into_inner()).map(Response::new)
    }

    async fn pull_image(
        &self,
        req: Request<cri::PullImageRequest>,
    ) -> Result<Response<cri::PullImageResponse>, Status> {
        pull::pull_image(self, req.into_inner()).await.map(Response::new)
    }

    async fn remove_image(
        &self,
        req: Request<cri::RemoveImageRequest>,
    ) -> Result<Response<cri::RemoveImageResponse>, Status> {
        remove::remove_image(self, req.into_inner()).map(Response::new)
    }

    async fn image_fs_info(
        &self,
        _req: Request<cri::ImageFsInfoRequest>,
    ) -> Result<Response<cri::ImageFsInfoResponse>, Status> {
        fs_info::image_fs_info(self).await.map(Response::new)
    }
}
