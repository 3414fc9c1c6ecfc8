//! Status: RuntimeReady, and NetworkReady=false with a reason until CNI
//! networking lands; the runtime handlers and their features.

use crate::Cri;
use k8s_cri::v1 as cri;

pub(crate) fn status(c: &Cri, req: cri::StatusRequest) -> cri::StatusResponse {
    let conditions = vec![
        cri::RuntimeCondition { r#type: "RuntimeReady".into(), status: true, reason: String::new(), message: String::new() },
        cri::RuntimeCondition {
            r#type: "NetworkReady".into(),
            status: false,
            reason: "NetworkPluginNotReady".into(),
            message: "berth: CNI networking is not implemented yet".into(),
        },
    ];
    let mut info = std::collections::HashMap::new();
    if req.verbose {
        info.insert(
            "config".to_owned(),
            serde_json::json!({
                "root": c.engine.paths().root,
                "state": c.engine.paths().state,
                "cgroupDriver": "cgroupfs",
                "cgroupSetup": berth_engine::cgroup_setup(),
                "podCIDR": c.pod_cidr(),
            })
            .to_string(),
        );
    }
    cri::StatusResponse {
        status: Some(cri::RuntimeStatus { conditions }),
        info,
        runtime_handlers: vec![cri::RuntimeHandler {
            name: String::new(),
            features: Some(cri::RuntimeHandlerFeatures { recursive_read_only_mounts: false, user_namespaces: false }),
        }],
        features: Some(cri::RuntimeFeatures { supplemental_groups_policy: false }),
    }
}
