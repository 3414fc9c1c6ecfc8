//! Version.

use berth_proto::cri;

pub(crate) fn version(_req: cri::VersionRequest) -> cri::VersionResponse {
    cri::VersionResponse {
        // The kubelet API version this answer follows (fixed by CRI).
        version: "0.1.0".into(),
        runtime_name: crate::RUNTIME_NAME.into(),
        runtime_version: env!("CARGO_PKG_VERSION").into(),
        runtime_api_version: crate::RUNTIME_API_VERSION.into(),
    }
}
