//! RuntimeConfig (the cgroup driver kubelet must match) and
//! UpdateRuntimeConfig (the node's pod CIDR).

use crate::Cri;
use berth_proto::cri;
use tonic::Status;

pub(crate) fn runtime_config() -> cri::RuntimeConfigResponse {
    cri::RuntimeConfigResponse {
        linux: Some(cri::LinuxRuntimeConfiguration {
            cgroup_driver: cri::CgroupDriver::Cgroupfs as i32,
        }),
    }
}

pub(crate) fn update_runtime_config(
    c: &Cri,
    req: cri::UpdateRuntimeConfigRequest,
) -> Result<cri::UpdateRuntimeConfigResponse, Status> {
    let cidr =
        req.runtime_config.and_then(|r| r.network_config).map(|n| n.pod_cidr).unwrap_or_default();
    if !cidr.is_empty() {
        let valid = cidr.split(',').all(|c| {
            c.split_once('/').is_some_and(|(ip, len)| {
                ip.parse::<std::net::IpAddr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 128)
            })
        });
        if !valid {
            return Err(Status::invalid_argument(format!("invalid pod CIDR {cidr:?}")));
        }
        *c.pod_cidr.lock().unwrap() = cidr;
    }
    Ok(cri::UpdateRuntimeConfigResponse {})
}
