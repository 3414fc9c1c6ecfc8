//! logs: `GET /containers/{id}/logs`, demultiplexed to our stdout and
//! stderr. A follower whose daemon restarts reconnects and resumes after
//! the last record it printed (it asks for timestamps to know where it is).

use super::containers::path;
use crate::client::{next_chunk, query, Client};
use crate::streams::{write_to, Demux};
use crate::units::time_arg;
use crate::Failure;
use berth_docker_api::inspect::ContainerInspect;
use hyper::Method;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end ("all" for every line).
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps.
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs since a time (RFC 3339, Unix seconds, or a duration like 10m).
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a time (RFC 3339, Unix seconds, or a duration like 10m).
    #[arg(long)]
    until: Option<String>,
    container: String,
}

/// How long a follower keeps trying to reach a restarting daemon.
const RECONNECT_FOR: Duration = Duration::from_secs(30);

/// Where a follower is: the last record's time, and how many records of
/// that time it printed (a resumed stream starts at that time again).
#[derive(Debug, Default)]
struct Position {
    at: String,
    seen_at: usize,
    skip: usize,
}

impl Position {
    /// Takes a record carrying our timestamp; the data to print, unless
    /// this record was printed before the reconnection.
    fn take<'a>(&mut self, record: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
        let sp = record.iter().position(|b| *b == b' ')?;
        let (ts, data) = (&record[..sp], &record[sp + 1..]);
        let ts_str = String::from_utf8_lossy(ts);
        if ts_str == self.at {
            self.seen_at += 1;
        } else {
            self.at = ts_str.into_owned();
            self.seen_at = 1;
            self.skip = 0;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return None;
        }
        Some((ts, data))
    }
}

pub async fn logs(c: &Client, a: LogsArgs) -> Result<i32, Failure> {
    let info: ContainerInspect = c.get(&path(&a.container, "/json")?).await?;
    let (id, tty) = (info.id, info.config.tty);
    if a.tail != "all" && a.tail.parse::<u64>().is_err() {
        return Err(Failure::new(format!("Error: invalid --tail {:?}", a.tail)));
    }
    let mut q =
        vec![("stdout", "1".to_owned()), ("stderr", "1".to_owned()), ("tail", a.tail.clone())];
    if let Some(s) = &a.since {
        q.push(("since", time_arg(s).map_err(|e| Failure::new(format!("Error: {e}")))?));
    }
    if let Some(u) = &a.until {
        q.push(("until", time_arg(u).map_err(|e| Failure::new(format!("Error: {e}")))?));
    }
    // A follower of framed records tracks its position by their times.
    let track = a.follow && !tty;
    if a.follow {
        q.push(("follow", "1".into()));
    }
    if a.timestamps || track {
        q.push(("timestamps", "1".into()));
    }
    let mut pos = Position::default();
    loop {
        let resp = c
            .checked(
                Method::GET,
                &format!("{}?{}", path(&id, "/logs")?, query(q.clone())),
                &[],
                crate::client::empty(),
            )
            .await?;
        let mut body = resp.into_body();
        let mut demux = Demux::default();
        let broke = loop {
            match next_chunk(&mut body).await {
                Ok(Some(chunk)) if tty => write_to(1, &chunk),
                Ok(Some(chunk)) => {
                    for (stream, record) in demux.push(&chunk) {
                        if !track {
                            write_to(stream, &record);
                            continue;
                        }
                        if let Some((ts, data)) = pos.take(&record) {
                            if a.timestamps {
                                write_to(stream, &[ts, b" "].concat());
                            }
                            write_to(stream, data);
                        }
                    }
                }
                Ok(None) => break false,
                Err(_) => break true,
            }
        };
        if !a.follow || !still_running(c, &id, broke).await {
            return Ok(0);
        }
        // Resume where we were: that time again, skipping what we printed.
        if track && !pos.at.is_empty() {
            pos.skip = pos.seen_at;
            pos.seen_at = 0;
            let at = time_arg(&pos.at).unwrap_or_default();
            q.retain(|(k, _)| *k != "since" && *k != "tail");
            q.push(("since", at));
        }
    }
}

/// After a follow stream ended: whether to follow again. A clean end with
/// the container stopped is the end; a broken stream, or a daemon that is
/// away, is waited for (up to [`RECONNECT_FOR`]).
async fn still_running(c: &Client, id: &str, broke: bool) -> bool {
    let deadline = Instant::now() + RECONNECT_FOR;
    let Ok(json) = path(id, "/json") else { return false };
    loop {
        match c.get::<ContainerInspect>(&json).await {
            Ok(v) => return broke || v.state.running,
            Err(e) if e.status.is_some() => return false,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(_) => return false,
        }
    }
}
