//! `GET /containers/{id}/top`: the container's processes in the columns of
//! `ps -ef` (what dockerd shows by default), read from /proc for the pids
//! of the container's cgroup. Other `ps_args` are refused by name.

use crate::containers::find;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Req};
use berth_docker_api::container::TopResponse;
use berth_engine::container::{ProcInfo, PROC_TICKS as TICKS};
use berth_engine::Engine;
use hyper::{Response, StatusCode};

fn clock(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// One `ps -ef` row; `boot` and `now` in Unix seconds.
fn row(p: &ProcInfo, boot: u64, now: u64) -> Vec<String> {
    let started = boot + p.start_ticks / TICKS;
    // As ps: the time of day today, else the date.
    let stime = {
        let t = berth_proto::time::rfc3339_nanos(berth_proto::time::from_unix_nanos(
            (started * 1_000_000_000) as i64,
        ));
        if now.saturating_sub(started) < 86_400 {
            t.get(11..16).unwrap_or_default().to_owned()
        } else {
            t.get(5..10).unwrap_or_default().to_owned()
        }
    };
    let tty = if p.tty_nr == 0 {
        "?".to_owned()
    } else {
        format!("pts/{}", (p.tty_nr & 0xff) | ((p.tty_nr >> 12) & 0xfff00))
    };
    vec![
        p.uid.to_string(),
        p.pid.to_string(),
        p.ppid.to_string(),
        "0".into(),
        stime,
        tty,
        clock(p.cpu_ticks / TICKS),
        p.command.clone(),
    ]
}

pub async fn top(engine: &Engine, key: &str, req: &Req) -> ApiResult<Response<Body>> {
    let c = find(engine, key)?;
    if let Some(args) = req.query("ps_args").filter(|a| !a.is_empty() && *a != "-ef") {
        return Err(ApiError::bad_request(format!(
            "ps_args {args:?} is not supported by berth yet (only ps -ef's columns)"
        )));
    }
    let procs = engine.container_processes(&c.id).await?;
    let boot = berth_engine::container::boot_time().unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let rows: Vec<Vec<String>> = procs.iter().map(|p| row(p, boot, now)).collect();
    let titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];
    let answer = TopResponse { titles: titles.map(String::from).to_vec(), processes: rows };
    Ok(http::json(StatusCode::OK, &answer))
}
