//! Logs: records from the container's CRI log file, optionally the last N,
//! optionally following until the container has stopped for good.
//!
//! A follower opened before the container starts (as `berth run` does)
//! keeps its descriptor, so even an auto-removed container's last lines
//! are delivered.

use super::{ContainerState, Status};
use crate::error::{IoContext, Result};
use crate::Engine;
use berth_proto::crilog;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{mpsc, watch};

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub stream: crilog::Stream,
    pub timestamp: String,
    /// Content; ends with `\n` for a full line, not for a partial record.
    pub data: Vec<u8>,
    /// Byte offset just past this record in the file.
    pub offset: u64,
}

fn record(line: &[u8], end: u64) -> Option<LogRecord> {
    let r = crilog::parse(line)?;
    let mut data = r.content.to_vec();
    if r.full {
        data.push(b'\n');
    }
    Some(LogRecord { stream: r.stream, timestamp: r.timestamp.to_owned(), data, offset: end })
}

/// Offset where the last `n` records start.
fn tail_offset(content: &[u8], n: usize) -> u64 {
    if n == 0 {
        return content.len() as u64;
    }
    let mut seen = 0;
    // Skip a trailing newline, then count newlines backwards.
    let end = content.len().saturating_sub(1);
    for i in (0..end).rev() {
        if content[i] == b'\n' {
            seen += 1;
            if seen == n {
                return i as u64 + 1;
            }
        }
    }
    0
}

fn finished(s: &ContainerState) -> bool {
    matches!(s.status, Status::Exited | Status::Unknown)
}

impl Engine {
    /// Streams log records. `tail`: last N only; `since_offset`: resume there.
    pub async fn logs(
        &self,
        key: &str,
        follow: bool,
        tail: Option<usize>,
        since_offset: u64,
    ) -> Result<mpsc::Receiver<LogRecord>> {
        let entry = self.lookup(key)?;
        let rec = entry.record();
        let path = self.log_path(&rec)?;
        let mut file =
            tokio::fs::File::open(&path).await.ctx(|| format!("open {}", path.display()))?;
        let mut offset = since_offset;
        if let Some(n) = tail {
            let mut all = Vec::new();
            file.read_to_end(&mut all).await.ctx(|| "read log".into())?;
            offset = offset.max(tail_offset(&all, n));
        }
        file.seek(std::io::SeekFrom::Start(offset)).await.ctx(|| "seek log".into())?;
        let events = entry.subscribe();
        drop(entry);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(pump(file, offset, follow, events, tx));
        Ok(rx)
    }
}

async fn pump(
    mut file: tokio::fs::File,
    mut offset: u64,
    follow: bool,
    mut events: watch::Receiver<ContainerState>,
    tx: mpsc::Sender<LogRecord>,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // A follower stops once the container has finished and the file is drained.
        let done_before_read =
            !follow || finished(&events.borrow()) || events.has_changed().is_err();
        let n = match file.read(&mut buf).await {
            Ok(n) => n,
            Err(_) => return,
        };
        if n > 0 {
            pending.extend_from_slice(&buf[..n]);
            let mut start = 0;
            while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
                let line = &pending[start..start + nl];
                offset += (nl + 1) as u64;
                if let Some(r) = record(line, offset) {
                    if tx.send(r).await.is_err() {
                        return;
                    }
                }
                start += nl + 1;
            }
            pending.drain(..start);
            continue;
        }
        if done_before_read {
            return;
        }
        // A removed container closes the channel: the next pass drains and stops.
        tokio::select! {
            _ = events.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_offsets() {
        let c = b"a\nb\nc\n";
        assert_eq!(tail_offset(c, 1), 4);
        assert_eq!(tail_offset(c, 2), 2);
        assert_eq!(tail_offset(c, 5), 0);
        assert_eq!(tail_offset(c, 0), 6);
    }

    #[test]
    fn records_keep_line_ends() {
        let r = record(b"2024-01-01T00:00:00.000000000Z stdout F hi", 10).unwrap();
        assert_eq!(r.data, b"hi\n");
        let p = record(b"2024-01-01T00:00:00.000000000Z stderr P part", 10).unwrap();
        assert_eq!(p.data, b"part");
    }
}
