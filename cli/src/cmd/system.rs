//! version, info, system df.

use crate::client::Client;
use crate::units::human_size;
use crate::Failure;
use serde_json::Value;

pub async fn version(c: &Client) -> Result<i32, Failure> {
    println!("Client:\n Version:\t{}\n API version:\t1.47", env!("CARGO_PKG_VERSION"));
    let v = c.get("/version").await?;
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    println!(
        "\nServer:\n Engine:\n  Version:\t{}\n  API version:\t{} (minimum version {})\n  OS/Arch:\t{}/{}",
        s("Version"),
        s("ApiVersion"),
        s("MinAPIVersion"),
        s("Os"),
        s("Arch")
    );
    Ok(0)
}

pub async fn info(c: &Client) -> Result<i32, Failure> {
    let v = c.get("/info").await?;
    let n = |k: &str| v[k].as_i64().unwrap_or(0);
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    println!("Server:");
    println!(
        " Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}",
        n("Containers"),
        n("ContainersRunning"),
        n("ContainersPaused"),
        n("ContainersStopped")
    );
    println!(" Images: {}", n("Images"));
    println!(" Server Version: {}", s("ServerVersion"));
    println!(" Storage Driver: {}", s("Driver"));
    println!(" Cgroup Driver: {}\n Cgroup Version: {}", s("CgroupDriver"), s("CgroupVersion"));
    println!(
        " Kernel Version: {}\n Operating System: {}\n Architecture: {}",
        s("KernelVersion"),
        s("OperatingSystem"),
        s("Architecture")
    );
    println!(" CPUs: {}\n Total Memory: {}", n("NCPU"), human_size(n("MemTotal").max(0) as u64));
    println!(" Name: {}\n Docker Root Dir: {}", s("Name"), s("DockerRootDir"));
    Ok(0)
}

pub async fn df(c: &Client) -> Result<i32, Failure> {
    let v = c.get("/system/df").await?;
    let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let images = list("Images");
    let containers = list("Containers");
    let size = |x: &Value, k: &str| x[k].as_i64().unwrap_or(0).max(0) as u64;
    let image_total: u64 = images.iter().map(|i| size(i, "Size")).sum();
    let unused: u64 = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) == 0)
        .map(|i| size(i, "Size"))
        .sum();
    let active_images = images.iter().filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0).count();
    let ctr_total: u64 = containers.iter().map(|c| size(c, "SizeRw")).sum();
    let ctr_stopped: u64 =
        containers.iter().filter(|c| c["State"] != "running").map(|c| size(c, "SizeRw")).sum();
    let active_ctrs = containers.iter().filter(|c| c["State"] == "running").count();
    let volumes = list("Volumes");
    let vsize = |v: &Value| v["UsageData"]["Size"].as_i64().unwrap_or(0).max(0) as u64;
    let vused = |v: &Value| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0;
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
