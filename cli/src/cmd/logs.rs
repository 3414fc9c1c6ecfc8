//! logs, and the stream printer `run` shares. A follower whose daemon
//! restarts reconnects and resumes at the byte offset it had reached.

use crate::Failure;
use berth_proto::engine as pb;
use std::io::Write;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

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
    container: String,
}

/// How long a follower keeps trying to reach a restarting daemon.
const RECONNECT_FOR: Duration = Duration::from_secs(30);

pub async fn logs(host: &str, a: LogsArgs) -> Result<i32, Failure> {
    let tail = if a.tail == "all" { -1 } else { a.tail.parse::<i64>().map_err(|_| Failure { message: format!("Error: invalid --tail {:?}", a.tail), code: 1 })? };
    let mut c = crate::client::connect(host).await?;
    let s = c.container_logs(pb::LogsRequest { id: a.container.clone(), follow: a.follow, tail, since_offset: 0 }).await?.into_inner();
    print_stream(host, &a.container, s, a.timestamps).await?;
    Ok(0)
}

/// Prints records to stdout/stderr until the stream ends; reconnects if the
/// daemon goes away mid-stream.
pub async fn print_stream(host: &str, id: &str, mut s: tonic::Streaming<pb::LogEntry>, timestamps: bool) -> Result<(), Failure> {
    let mut offset = 0u64;
    loop {
        match s.next().await {
            None => return Ok(()),
            Some(Ok(e)) => {
                offset = e.offset;
                let mut out: Box<dyn Write> = if e.stream == "stderr" { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };
                if timestamps {
                    let _ = write!(out, "{} ", e.timestamp);
                }
                let _ = out.write_all(&e.data);
                let _ = out.flush();
            }
            Some(Err(status)) if matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled | tonic::Code::Internal) => {
                s = reconnect(host, id, offset).await.ok_or_else(|| Failure::from(status))?;
            }
            Some(Err(status)) => return Err(status.into()),
        }
    }
}

async fn reconnect(host: &str, id: &str, offset: u64) -> Option<tonic::Streaming<pb::LogEntry>> {
    let deadline = Instant::now() + RECONNECT_FOR;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Ok(mut c) = crate::client::connect(host).await else { continue };
        if let Ok(r) = c.container_logs(pb::LogsRequest { id: id.into(), follow: true, tail: -1, since_offset: offset }).await {
            return Some(r.into_inner());
        }
    }
    None
}
