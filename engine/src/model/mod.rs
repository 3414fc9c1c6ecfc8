//! The engine's domain model: the records berth keeps and the typed values
//! in them. Pure data with its own checks; no I/O, no engine handle. The
//! operation modules (`container`, `sandbox`, `image`), `spec/` and the
//! fronts depend on it, never the other way round.

pub mod container;
pub mod health;
pub mod image;
pub mod network;
pub mod pod;
pub mod ports;
pub mod resolver;
pub mod restart_policy;
pub mod sandbox;
pub mod volume;

pub use container::{
    ContainerConfig, ContainerNetwork, ContainerRecord, ContainerState, Dns, EndReason, ExtraHost,
    Resources, RestartPolicy, Status, StopSignal, Ulimit,
};
pub use health::{Health, HealthConfig, HealthStatus, Healthcheck, Probe};
pub use image::{ImageConfig, ImageRecord};
pub use network::{
    check_alias, check_network_name, MacAddress, NetworkLink, NetworkRecord, Subnet,
};
pub use pod::{
    BindMount, DeviceMount, ImageVolume, PidNamespace, PodLink, Propagation, Seccomp, Security,
};
pub use ports::{ContainerPort, HostPorts, PortRequest, Protocol, PublishedPort};
pub use sandbox::{
    IdMapping, NamespaceModes, NsMode, SandboxOptions, SandboxRecord, SandboxState, UserNamespace,
};
pub use volume::{TmpfsMount, VolumeRecord, VolumeRequest, VolumeUse};
