//! Every key berth writes is one Docker's API defines, with a value of the
//! type it defines: each body, filled in, is read back as `bollard-stubs`'
//! model of it (generated from Docker's OpenAPI file), and any key that
//! model ignores or can't read fails the test. Keys Docker's file dropped
//! but dockerd still writes for old clients are listed, each with why.

use berth_docker_api::{container, exec, image, inspect, network, progress, system, volume};
use bollard_stubs::models as docker;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;

/// Keys absent from API 1.53's file that dockerd 20.10 (API 1.41) writes
/// and clients of its time read.
const OLD_KEYS: &[&str] = &[
    // Image summaries' and inspect's size before layers were shared (removed in 1.44).
    "VirtualSize",
    // The container's MAC address in `Config` (and so at the create body's
    // top level; moved to the endpoint in 1.44).
    "MacAddress",
    // `NetworkSettings`' top-level address fields (deprecated in 1.44, gone in 1.52).
    "NetworkSettings.EndpointID",
    "NetworkSettings.Gateway",
    "NetworkSettings.GlobalIPv6Address",
    "NetworkSettings.GlobalIPv6PrefixLen",
    "NetworkSettings.IPAddress",
    "NetworkSettings.IPPrefixLen",
    "NetworkSettings.IPv6Gateway",
    "NetworkSettings.MacAddress",
    "NetworkSettings.Bridge",
    // Image inspect's graph-driver name before snapshotters (still written by 20.10).
    "Parent",
    // `/info`'s cgroup-v1-era flags, the build flag and the swarm-era ones.
    "ExperimentalBuild",
    // Update's kernel memory limit (deprecated in 20.10, still sent by its clients).
    "KernelMemory",
    // Network create's duplicate check, the default since 1.44 and ignored there.
    "CheckDuplicate",
    // A progress message's bar as text (its numbers are `progressDetail`),
    // and its error as text (the docker CLI of 20.10 reads it).
    "progress",
    "error",
    // An event's subject before `Actor` and `Type` (removed in 1.52).
    "status",
    "id",
    "from",
];

/// Reads `ours` as Docker's model `T`; every key `T` doesn't know is returned.
fn unknown_keys<T: DeserializeOwned>(ours: &impl Serialize) -> Vec<String> {
    let json = serde_json::to_string(ours).unwrap();
    let mut unknown = Vec::new();
    let de = &mut serde_json::Deserializer::from_str(&json);
    let read: Result<T, _> = serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
    if let Err(e) = read {
        panic!("Docker's model can't read {}: {e}\n{json}", std::any::type_name::<T>());
    }
    // Paths as `A.B`: without serde_ignored's `?` for an option and indices.
    let unknown = unknown.into_iter().map(|k| {
        k.split('.')
            .filter(|p| *p != "?" && p.parse::<usize>().is_err())
            .collect::<Vec<_>>()
            .join(".")
    });
    let mut unknown: Vec<String> = unknown.collect();
    unknown.retain(|k| !OLD_KEYS.iter().any(|old| k == old || k.ends_with(&format!(".{old}"))));
    unknown
}

macro_rules! agrees {
    ($ours:expr, $docker:ty) => {
        let unknown = unknown_keys::<$docker>(&$ours);
        assert!(
            unknown.is_empty(),
            "{} writes keys Docker's API lacks: {unknown:?}",
            stringify!($docker)
        );
    };
}

fn labels() -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([("a".to_owned(), "b".to_owned())]))
}

fn endpoint() -> inspect::EndpointSettings {
    inspect::EndpointSettings {
        ipam_config: Some(container::EndpointIpamConfig { ipv4_address: "10.0.0.2".into() }),
        links: Some(vec![]),
        aliases: Some(vec!["web".into()]),
        driver_opts: Some(BTreeMap::new()),
        ..Default::default()
    }
}

fn mount_point() -> inspect::MountPoint {
    inspect::MountPoint {
        kind: "volume".into(),
        name: "v".into(),
        driver: "local".into(),
        ..Default::default()
    }
}

fn config() -> container::Config {
    container::Config {
        exposed_ports: Some(BTreeMap::from([("80/tcp".into(), Default::default())])),
        env: Some(vec!["A=1".into()]),
        cmd: Some(vec!["sh".into()]),
        healthcheck: Some(Default::default()),
        volumes: Some(BTreeMap::from([("/data".into(), Default::default())])),
        entrypoint: Some(vec![]),
        mac_address: "02:42:ac:11:00:02".into(),
        on_build: Some(vec![]),
        labels: labels(),
        stop_signal: "SIGTERM".into(),
        stop_timeout: Some(10),
        shell: Some(vec!["/bin/sh".into()]),
        ..Default::default()
    }
}

fn host_config() -> container::HostConfig {
    container::HostConfig {
        binds: Some(vec!["/a:/b".into()]),
        port_bindings: Some(BTreeMap::from([("80/tcp".into(), Some(vec![Default::default()]))])),
        mounts: Some(vec![container::Mount {
            kind: "bind".into(),
            consistency: "default".into(),
            bind_options: Some(container::BindOptions {
                propagation: "rprivate".into(),
                non_recursive: true,
                create_mountpoint: true,
            }),
            volume_options: Some(container::VolumeOptions {
                no_copy: true,
                labels: labels(),
                driver_config: Some(container::DriverConfig {
                    name: "local".into(),
                    options: labels(),
                }),
                subpath: "x".into(),
            }),
            tmpfs_options: Some(container::TmpfsOptions { size_bytes: 1, mode: 0o755 }),
            ..Default::default()
        }]),
        devices: Some(vec![Default::default()]),
        ulimits: Some(vec![Default::default()]),
        pids_limit: Some(1),
        init: Some(true),
        tmpfs: labels(),
        sysctls: labels(),
        ..Default::default()
    }
}

#[test]
fn container_bodies_are_dockers() {
    let create = container::CreateRequest {
        config: config(),
        host_config: host_config(),
        networking_config: Some(container::NetworkingConfig {
            endpoints_config: Some(BTreeMap::from([(
                "net".into(),
                container::EndpointConfig {
                    aliases: Some(vec![]),
                    ipam_config: Some(Default::default()),
                    mac_address: "02:42:ac:11:00:02".into(),
                },
            )])),
        }),
    };
    agrees!(create, docker::ContainerCreateBody);
    agrees!(container::CreateResponse::default(), docker::ContainerCreateResponse);
    let summary = container::Summary {
        ports: vec![container::Port {
            ip: Some("0.0.0.0".into()),
            public_port: Some(80),
            ..Default::default()
        }],
        size_rw: Some(1),
        size_root_fs: Some(1),
        labels: labels(),
        network_settings: container::SummaryNetworkSettings {
            networks: Some(BTreeMap::from([("bridge".into(), endpoint())])),
        },
        mounts: vec![mount_point()],
        ..Default::default()
    };
    agrees!(summary, docker::ContainerSummary);
    let wait = container::WaitResponse { error: Some(Default::default()), ..Default::default() };
    agrees!(wait, docker::ContainerWaitResponse);
    agrees!(
        container::PruneResponse { containers_deleted: Some(vec![]), ..Default::default() },
        docker::ContainerPruneResponse
    );
    agrees!(container::TopResponse::default(), docker::ContainerTopResponse);
    agrees!(container::Change::default(), docker::FilesystemChange);
    let update = container::UpdateRequest {
        memory: Some(1),
        memory_swap: Some(1),
        nano_cpus: Some(1),
        cpu_shares: Some(1),
        cpu_quota: Some(1),
        cpu_period: Some(1),
        cpuset_cpus: Some("0".into()),
        cpuset_mems: Some("0".into()),
        pids_limit: Some(1),
        restart_policy: Some(Default::default()),
        blkio_weight: Some(10),
        kernel_memory: Some(1),
        memory_reservation: Some(1),
    };
    agrees!(update, docker::ContainerUpdateBody);
}

#[test]
fn inspect_is_dockers() {
    let doc = inspect::ContainerInspect {
        exec_ids: Some(vec![]),
        state: inspect::State {
            health: Some(inspect::Health { log: vec![Default::default()], ..Default::default() }),
            ..Default::default()
        },
        host_config: host_config(),
        config: config(),
        network_settings: inspect::NetworkSettings {
            ports: BTreeMap::from([
                ("80/tcp".into(), Some(vec![Default::default()])),
                ("81/tcp".into(), None),
            ]),
            networks: BTreeMap::from([("bridge".into(), endpoint())]),
            ..Default::default()
        },
        mounts: vec![mount_point()],
        ..Default::default()
    };
    agrees!(doc, docker::ContainerInspectResponse);
}

#[test]
fn image_bodies_are_dockers() {
    agrees!(image::Summary { labels: labels(), ..Default::default() }, docker::ImageSummary);
    let doc = image::Inspect {
        config: Some(image::ImageConfig {
            user: Some("1".into()),
            exposed_ports: Some(BTreeMap::from([("80/tcp".into(), Default::default())])),
            healthcheck: Some(Default::default()),
            args_escaped: Some(true),
            labels: labels(),
            stop_signal: Some("SIGTERM".into()),
            shell: Some(vec![]),
            ..Default::default()
        }),
        variant: "v8".into(),
        graph_driver: image::GraphDriver { name: "overlay".into(), data: labels().unwrap() },
        ..Default::default()
    };
    agrees!(doc, docker::ImageInspect);
    agrees!(
        image::HistoryItem { tags: Some(vec![]), ..Default::default() },
        docker::ImageHistoryResponseItem
    );
    let deleted = image::DeleteItem { untagged: Some("a".into()), deleted: Some("b".into()) };
    agrees!(deleted.clone(), docker::ImageDeleteResponseItem);
    agrees!(
        image::PruneResponse { images_deleted: Some(vec![deleted]), ..Default::default() },
        docker::ImagePruneResponse
    );
}

#[test]
fn network_and_volume_bodies_are_dockers() {
    let ipam = network::Ipam {
        options: labels(),
        config: Some(vec![network::IpamConfig {
            ip_range: "10.0.0.0/24".into(),
            aux_address: labels(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let create = network::CreateRequest {
        ipam: Some(ipam.clone()),
        options: labels(),
        labels: labels(),
        ..Default::default()
    };
    agrees!(create, docker::NetworkCreateRequest);
    agrees!(network::CreateResponse::default(), docker::NetworkCreateResponse);
    let doc = network::Network {
        ipam,
        containers: BTreeMap::from([("id".into(), Default::default())]),
        options: labels().unwrap(),
        labels: labels().unwrap(),
        ..Default::default()
    };
    agrees!(doc, docker::NetworkInspect);
    let connect = network::ConnectRequest {
        endpoint_config: container::EndpointConfig {
            aliases: Some(vec![]),
            ipam_config: Some(Default::default()),
            ..Default::default()
        },
        ..Default::default()
    };
    agrees!(connect, docker::NetworkConnectRequest);
    agrees!(network::DisconnectRequest::default(), docker::NetworkDisconnectRequest);
    agrees!(
        network::PruneResponse { networks_deleted: Some(vec![]) },
        docker::NetworkPruneResponse
    );

    let vol = volume::Volume {
        labels: labels(),
        options: labels(),
        usage_data: Some(Default::default()),
        ..Default::default()
    };
    agrees!(vol.clone(), docker::Volume);
    agrees!(
        volume::CreateRequest { driver_opts: labels(), labels: labels(), ..Default::default() },
        docker::VolumeCreateRequest
    );
    agrees!(
        volume::ListResponse { volumes: Some(vec![vol]), warnings: Some(vec![]) },
        docker::VolumeListResponse
    );
    agrees!(
        volume::PruneResponse { volumes_deleted: Some(vec![]), ..Default::default() },
        docker::VolumePruneResponse
    );
}

#[test]
fn system_and_exec_bodies_are_dockers() {
    let version = system::Version {
        components: vec![system::ComponentVersion { details: labels(), ..Default::default() }],
        ..Default::default()
    };
    agrees!(version, docker::SystemVersion);
    let info = system::Info {
        driver_status: vec![["a".into(), "b".into()]],
        runtimes: BTreeMap::from([("berth".into(), Default::default())]),
        registry_config: system::RegistryConfig {
            index_configs: BTreeMap::from([("docker.io".into(), Default::default())]),
            ..Default::default()
        },
        ..Default::default()
    };
    agrees!(info, docker::SystemInfo);
    agrees!(system::AuthResponse::default(), docker::AuthResponse);
    let cache = system::BuildCache {
        last_used_at: Some("2026-01-01T00:00:00Z".into()),
        ..Default::default()
    };
    agrees!(cache, docker::BuildCache);
    agrees!(
        system::BuildPruneResponse { caches_deleted: vec!["x".into()], space_reclaimed: 1 },
        docker::BuildPruneResponse
    );
    let auth = system::AuthConfig {
        username: "u".into(),
        password: "p".into(),
        serveraddress: "s".into(),
        ..Default::default()
    };
    agrees!(auth, docker::AuthConfig);
    let event = system::Event {
        actor: system::Actor { attributes: labels().unwrap(), ..Default::default() },
        ..Default::default()
    };
    agrees!(event, docker::EventMessage);
    // (`/system/df` is API 1.41's shape, which 1.52 replaced; its parts are
    // the summaries checked above.)

    let create = exec::CreateRequest {
        env: Some(vec![]),
        console_size: Some([24, 80]),
        ..Default::default()
    };
    agrees!(create, docker::ExecConfig);
    agrees!(
        exec::StartRequest { console_size: Some([24, 80]), ..Default::default() },
        docker::ExecStartConfig
    );
    agrees!(
        exec::Inspect { exit_code: Some(0), ..Default::default() },
        docker::ExecInspectResponse
    );
}

#[test]
fn stats_and_progress_are_dockers() {
    let mut s = berth_docker_api::stats::Stats::default();
    s.cpu_stats.system_cpu_usage = Some(1);
    s.cpu_stats.online_cpus = Some(2);
    s.pids_stats.current = Some(1);
    s.memory_stats.usage = Some(1);
    s.memory_stats.limit = Some(1);
    s.memory_stats.stats = Some(BTreeMap::from([("rss".into(), 1)]));
    s.networks = Some(BTreeMap::from([("eth0".into(), Default::default())]));
    agrees!(s, docker::ContainerStatsResponse);
    let mut m = progress::Message::status("Downloading", "abc");
    m.progress_detail = Some(progress::Progress { current: Some(1), total: Some(2) });
    m.progress = "[=> ]".into();
    agrees!(m, docker::CreateImageInfo);
    agrees!(progress::Message::error("boom"), docker::CreateImageInfo);
}
