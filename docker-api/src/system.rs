//! The daemon: version, info, login, disk usage and events.

use crate::null_default;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Version {
    #[serde(deserialize_with = "null_default")]
    pub platform: Platform,
    #[serde(deserialize_with = "null_default")]
    pub components: Vec<ComponentVersion>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub build_time: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Platform {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    pub details: Option<BTreeMap<String, String>>,
}

/// `GET /info`: the parts berth has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Containers")]
    pub containers: usize,
    #[serde(rename = "ContainersRunning")]
    pub containers_running: usize,
    #[serde(rename = "ContainersPaused")]
    pub containers_paused: usize,
    #[serde(rename = "ContainersStopped")]
    pub containers_stopped: usize,
    #[serde(rename = "Images")]
    pub images: usize,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "DriverStatus", deserialize_with = "null_default")]
    pub driver_status: Vec<[String; 2]>,
    #[serde(rename = "Plugins", deserialize_with = "null_default")]
    pub plugins: Plugins,
    #[serde(rename = "MemoryLimit")]
    pub memory_limit: bool,
    #[serde(rename = "SwapLimit")]
    pub swap_limit: bool,
    #[serde(rename = "CpuCfsPeriod")]
    pub cpu_cfs_period: bool,
    #[serde(rename = "CpuCfsQuota")]
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    #[serde(rename = "PidsLimit")]
    pub pids_limit: bool,
    #[serde(rename = "OomKillDisable")]
    pub oom_kill_disable: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    #[serde(rename = "Debug")]
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub nfd: i64,
    #[serde(rename = "NGoroutines")]
    pub ngoroutines: i64,
    #[serde(rename = "SystemTime")]
    pub system_time: String,
    #[serde(rename = "LoggingDriver")]
    pub logging_driver: String,
    #[serde(rename = "CgroupDriver")]
    pub cgroup_driver: String,
    #[serde(rename = "CgroupVersion")]
    pub cgroup_version: String,
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
    #[serde(rename = "OperatingSystem")]
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    #[serde(rename = "Architecture")]
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: usize,
    #[serde(rename = "MemTotal")]
    pub mem_total: u64,
    #[serde(rename = "DockerRootDir")]
    pub docker_root_dir: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Labels", deserialize_with = "null_default")]
    pub labels: Vec<String>,
    #[serde(rename = "ExperimentalBuild")]
    pub experimental_build: bool,
    #[serde(rename = "ServerVersion")]
    pub server_version: String,
    #[serde(rename = "Runtimes", deserialize_with = "null_default")]
    pub runtimes: BTreeMap<String, Runtime>,
    #[serde(rename = "DefaultRuntime")]
    pub default_runtime: String,
    #[serde(rename = "Swarm", deserialize_with = "null_default")]
    pub swarm: SwarmInfo,
    #[serde(rename = "LiveRestoreEnabled")]
    pub live_restore_enabled: bool,
    #[serde(rename = "Isolation")]
    pub isolation: String,
    #[serde(rename = "InitBinary")]
    pub init_binary: String,
    #[serde(rename = "SecurityOptions", deserialize_with = "null_default")]
    pub security_options: Vec<String>,
    #[serde(rename = "RegistryConfig", deserialize_with = "null_default")]
    pub registry_config: RegistryConfig,
    #[serde(rename = "Warnings", deserialize_with = "null_default")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Plugins {
    #[serde(deserialize_with = "null_default")]
    pub volume: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub network: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub log: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Runtime {
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SwarmInfo {
    pub local_node_state: String,
    pub control_available: bool,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_addr: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RegistryConfig {
    #[serde(deserialize_with = "null_default")]
    pub index_configs: BTreeMap<String, IndexInfo>,
    #[serde(rename = "InsecureRegistryCIDRs", deserialize_with = "null_default")]
    pub insecure_registry_cidrs: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub mirrors: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct IndexInfo {
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub mirrors: Vec<String>,
    pub secure: bool,
    pub official: bool,
}

/// `POST /auth`'s body, and the `X-Registry-Auth` header's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_default")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_default")]
    pub password: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_default")]
    pub auth: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_default")]
    pub serveraddress: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_default")]
    pub identitytoken: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_default")]
    pub registrytoken: String,
}

/// `POST /auth`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AuthResponse {
    pub status: String,
    pub identity_token: String,
}

/// `GET /system/df`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DiskUsage {
    pub layers_size: u64,
    #[serde(deserialize_with = "null_default")]
    pub images: Vec<crate::image::Summary>,
    #[serde(deserialize_with = "null_default")]
    pub containers: Vec<crate::container::Summary>,
    #[serde(deserialize_with = "null_default")]
    pub volumes: Vec<crate::volume::Volume>,
    #[serde(deserialize_with = "null_default")]
    pub build_cache: Vec<BuildCache>,
}

/// One build cache record (`GET /system/df`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct BuildCache {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub description: String,
    pub in_use: bool,
    pub shared: bool,
    pub size: i64,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    pub usage_count: i64,
}

/// `POST /build/prune`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct BuildPruneResponse {
    #[serde(deserialize_with = "null_default")]
    pub caches_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// One message of `GET /events`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    /// (Deprecated names, still written for old clients.)
    pub status: String,
    pub id: String,
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor", deserialize_with = "null_default")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// What an event is about: its id and attributes (name, image, labels, exitCode…).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(deserialize_with = "null_default")]
    pub attributes: BTreeMap<String, String>,
}
