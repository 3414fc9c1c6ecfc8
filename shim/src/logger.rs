//! The container's log file: CRI records appended as output arrives.

use berth_proto::crilog::{LineSplitter, Stream};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::SystemTime;

pub struct Logger {
    path: PathBuf,
    file: File,
    stdout: LineSplitter,
    stderr: LineSplitter,
    buf: Vec<u8>,
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // std opens with O_CLOEXEC.
    OpenOptions::new().create(true).append(true).mode(0o640).open(path)
}

impl Logger {
    pub fn new(path: PathBuf) -> std::io::Result<Self> {
        let file = open(&path)?;
        Ok(Self {
            path,
            file,
            stdout: LineSplitter::new(Stream::Stdout),
            stderr: LineSplitter::new(Stream::Stderr),
            buf: Vec::with_capacity(8192),
        })
    }

    fn splitter(&mut self, s: Stream) -> &mut LineSplitter {
        match s {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }

    /// Records output read from a stream.
    pub fn write(&mut self, s: Stream, data: &[u8]) {
        let mut buf = std::mem::take(&mut self.buf);
        self.splitter(s).feed(&mut buf, SystemTime::now(), data);
        self.flush(buf);
    }

    /// A stream ended: its unfinished last line is written as a full line.
    pub fn finish(&mut self, s: Stream) {
        let mut buf = std::mem::take(&mut self.buf);
        self.splitter(s).finish(&mut buf, SystemTime::now());
        self.flush(buf);
    }

    fn flush(&mut self, mut buf: Vec<u8>) {
        if !buf.is_empty() {
            // A full disk must not stop the container: the record is dropped.
            let _ = self.file.write_all(&buf);
        }
        buf.clear();
        self.buf = buf;
    }

    /// Reopens the file (kubelet rotated it).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        self.file = open(&self.path)?;
        Ok(())
    }
}
