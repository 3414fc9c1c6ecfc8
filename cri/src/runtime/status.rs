//! Status: RuntimeReady, NetworkReady (a CNI network config is present and,
//! for CNI 1.1, its plugins answer STATUS); the runtime handlers and their
//! features.

use crate::Cri;
use berth_proto::cri;

pub(crate) async fn status(c: &Cri, req: cri::StatusRequest) -> cri::StatusResponse {
    let network = match c.engine.network_status().await {
        Ok(()) => cri::RuntimeCondition {
            r#type: "NetworkReady".into(),
            status: true,
            reason: String::new(),
            message: String::new(),
        },
        Err(e) => cri::RuntimeCondition {
            r#type: "NetworkReady".into(),
            status: false,
            reason: "NetworkPluginNotReady".into(),
            message: format!("berth: {e}"),
        },
    };
    let conditions = vec![
        cri::RuntimeCondition {
            r#type: "RuntimeReady".into(),
            status: true,
            reason: String::new(),
            message: String::new(),
        },
        network,
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
                "cni": { "confDir": c.engine.config().cni.conf_dir, "binDirs": c.engine.config().cni.bin_dirs },
                "podCIDR": c.pod_cidr(),
            })
            .to_string(),
        );
    }
    cri::StatusResponse {
        status: Some(cri::RuntimeStatus { conditions }),
        info,
        runtime_handlers: berth_engine::sandbox::RUNTIME_HANDLERS
            .iter()
            .map(|name| cri::RuntimeHandler {
                name: name.to_string(),
                features: Some(cri::RuntimeHandlerFeatures {
                    recursive_read_only_mounts: berth_engine::recursive_read_only_mounts(),
                    user_namespaces: berth_engine::user_namespaces(),
                }),
            })
            .collect(),
        features: Some(cri::RuntimeFeatures {
            supplemental_groups_policy: true,
            user_namespaces_host_network: false,
            mount_options: true,
        }),
    }
}
