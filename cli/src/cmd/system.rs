//! version, info, system df.

use crate::client::Client;
use crate::units::human_size;
use crate::Failure;
use berth_docker_api::{container, system, volume};

pub async fn version(c: &Client) -> Result<i32, Failure> {
    println!("Client:\n Version:\t{}\n API version:\t1.47", env!("CARGO_PKG_VERSION"));
    let v: system::Version = c.get("/version").await?;
    println!(
        "\nServer:\n Engine:\n  Version:\t{}\n  API version:\t{} (minimum version {})\n  OS/Arch:\t{}/{}",
        v.version, v.api_version, v.min_api_version, v.os, v.arch
    );
    Ok(0)
}

pub async fn info(c: &Client) -> Result<i32, Failure> {
    let v: system::Info = c.get("/info").await?;
    println!("Server:");
    println!(
        " Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}",
        v.containers, v.containers_running, v.containers_paused, v.containers_stopped
    );
    println!(" Images: {}", v.images);
    println!(" Server Version: {}", v.server_version);
    println!(" Storage Driver: {}", v.driver);
    println!(" Cgroup Driver: {}\n Cgroup Version: {}", v.cgroup_driver, v.cgroup_version);
    println!(
        " Kernel Version: {}\n Operating System: {}\n Architecture: {}",
        v.kernel_version, v.operating_system, v.architecture
    );
    println!(" CPUs: {}\n Total Memory: {}", v.ncpu, human_size(v.mem_total));
    println!(" Name: {}\n Docker Root Dir: {}", v.name, v.docker_root_dir);
    Ok(0)
}

pub async fn df(c: &Client) -> Result<i32, Failure> {
    let v: system::DiskUsage = c.get("/system/df").await?;
    let (images, containers, volumes) = (&v.images, &v.containers, &v.volumes);
    let size = |n: i64| n.max(0) as u64;
    let image_total: u64 = images.iter().map(|i| size(i.size)).sum();
    let unused: u64 = images.iter().filter(|i| i.containers == 0).map(|i| size(i.size)).sum();
    let active_images = images.iter().filter(|i| i.containers > 0).count();
    let rw = |c: &container::Summary| size(c.size_rw.unwrap_or(0));
    let ctr_total: u64 = containers.iter().map(rw).sum();
    let ctr_stopped: u64 = containers.iter().filter(|c| c.state != "running").map(rw).sum();
    let active_ctrs = containers.iter().filter(|c| c.state == "running").count();
    let usage = |v: &volume::Volume| v.usage_data.clone().unwrap_or_default();
    let vsize = |v: &volume::Volume| size(usage(v).size);
    let vused = |v: &volume::Volume| usage(v).ref_count > 0;
    let vol_total: u64 = volumes.iter().map(vsize).sum();
    let vol_unused: u64 = volumes.iter().filter(|v| !vused(v)).map(vsize).sum();
    let active_vols = volumes.iter().filter(|v| vused(v)).count();
    let pct = |part: u64, total: u64| format!("{}%", (part * 100).checked_div(total).unwrap_or(0));
    let lines = vec![
        "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_owned(),
        format!(
            "Images\t{}\t{active_images}\t{}\t{} ({})",
            images.len(),
            human_size(image_total),
            human_size(unused),
            pct(unused, image_total)
        ),
        format!(
            "Containers\t{}\t{active_ctrs}\t{}\t{} ({})",
            containers.len(),
            human_size(ctr_total),
            human_size(ctr_stopped),
            pct(ctr_stopped, ctr_total)
        ),
        format!(
            "Local Volumes\t{}\t{active_vols}\t{}\t{} ({})",
            volumes.len(),
            human_size(vol_total),
            human_size(vol_unused),
            pct(vol_unused, vol_total)
        ),
        "Build Cache\t0\t0\t0B\t0B".to_owned(),
    ];
    print!("{}", crate::table::align(&lines));
    Ok(0)
}
