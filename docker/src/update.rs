//! `POST /containers/{id}/update` (`docker update`): new resource limits,
//! applied to the live cgroup and recorded; only the fields a request sets
//! change; a new restart policy (`--restart`) is recorded.

use crate::containers::find;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use berth_docker_api::container::UpdateRequest as Update;
use berth_engine::Engine;
use hyper::{Response, StatusCode};

/// Docker's minimum memory limit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

pub async fn update(engine: &Engine, key: &str, req: &mut Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    let u: Update = req.json().await?;
    let set = |v: &Option<i64>| v.is_some_and(|v| v != 0);
    // The CLI sends an empty policy when --restart isn't given.
    let restart = match &u.restart_policy {
        Some(p) if !p.name.is_empty() => {
            Some(berth_engine::model::RestartPolicy::from_docker(&p.name, p.maximum_retry_count)?)
        }
        _ => None,
    };
    for (on, field) in [
        (u.blkio_weight.is_some_and(|w| w != 0), "BlkioWeight (--blkio-weight)"),
        (set(&u.kernel_memory), "KernelMemory (--kernel-memory)"),
        (set(&u.memory_reservation), "MemoryReservation (--memory-reservation)"),
    ] {
        if on {
            return Err(ApiError::bad_request(format!("{field} is not supported by berth yet")));
        }
    }
    let mut r = c.config.resources.clone();
    if let Some(m) = u.memory.filter(|m| *m != 0) {
        if m < MIN_MEMORY {
            return Err(ApiError::bad_request("Minimum memory limit allowed is 6MB"));
        }
        r.memory_bytes = m;
    }
    if let Some(s) = u.memory_swap.filter(|s| *s != 0) {
        r.memory_swap_bytes = s;
    }
    if let Some(n) = u.nano_cpus.filter(|n| *n != 0) {
        r.cpu_quota = n / 10_000;
        r.cpu_period = 100_000;
    }
    if let Some(s) = u.cpu_shares.filter(|s| *s != 0) {
        r.cpu_shares = s.max(0) as u64;
    }
    if let Some(q) = u.cpu_quota.filter(|q| *q != 0) {
        r.cpu_quota = q;
    }
    if let Some(p) = u.cpu_period.filter(|p| *p != 0) {
        r.cpu_period = p.max(0) as u64;
    }
    if let Some(s) = u.cpuset_cpus.filter(|s| !s.is_empty()) {
        r.cpuset_cpus = s;
    }
    if let Some(s) = u.cpuset_mems.filter(|s| !s.is_empty()) {
        r.cpuset_mems = s;
    }
    if let Some(p) = u.pids_limit.filter(|p| *p != 0) {
        r.pids_limit = p.max(0);
    }
    if r != c.config.resources {
        engine.update_resources(&c.id, r).await?;
    }
    if let Some(p) = restart {
        engine.set_restart_policy(&c.id, p).await?;
    }
    Ok(http::json(StatusCode::OK, &berth_docker_api::WarningsResponse::default()))
}
