//! The berth-shim protocol and start-up configuration.
//!
//! Frames are a u32 big-endian length and a prost message; the shim is a
//! single-threaded poll loop, so the protocol stays this small on purpose.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/berth.shim.v1.rs"));

/// The protocol this build speaks (see `shim.proto` for what each adds).
pub const PROTOCOL: u32 = 2;
/// The oldest protocol of a running shim this build still adopts.
pub const MIN_PROTOCOL: u32 = 1;
/// The answer of a shim of protocol 1 to a request kind it doesn't know.
pub const UNKNOWN_REQUEST: &str = "empty request";

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 1 << 20;

/// Names of the files a shim keeps in its bundle directory.
pub const CONFIG_FILE: &str = "config.json";
pub const SHIM_FILE: &str = "shim.json";
pub const SOCKET_FILE: &str = "shim.sock";
pub const EXIT_FILE: &str = "exit.json";
pub const PID_FILE: &str = "shim.pid";

/// What the daemon tells a new shim beyond the OCI spec (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    pub id: String,
    /// Overlay lower dirs, topmost first.
    pub lower_dirs: Vec<PathBuf>,
    pub upper_dir: PathBuf,
    pub work_dir: PathBuf,
    /// Where the overlay is mounted (inside the container's mount namespace only).
    pub rootfs: PathBuf,
    /// CRI-format log file.
    pub log_path: PathBuf,
    /// `user[:group]` as given, resolved inside the container's root.
    pub user: Option<String>,
    /// Files the shim bind-mounts over the same path in the container,
    /// such as /etc/hosts and /etc/hostname.
    #[serde(default)]
    pub etc_files: Vec<(PathBuf, String)>,
    /// Only the primary and the spec's additional groups, not the user's
    /// memberships from the container's /etc/group.
    #[serde(default)]
    pub groups_strict: bool,
    /// Keep the container's stdin open for attachments (a pipe, or the terminal).
    #[serde(default)]
    pub stdin: bool,
    /// Close it when the first attachment that wrote to it ends.
    #[serde(default)]
    pub stdin_once: bool,
    /// Give the container a terminal from its own devpts as its stdio.
    #[serde(default)]
    pub tty: bool,
    /// Images mounted read-only into the container (CRI image volumes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_volumes: Vec<ImageVolume>,
    /// An attachment is on its way (Docker's attach before start): the
    /// container's output is not read until it is there, or [`HOLD_OUTPUT`]
    /// has passed, so it gets all of it (the container may block writing).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold_output: bool,
    /// `--init`: berth's own PID 1 supervises the command.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
}

/// How long a shim holds output for an attachment announced at start.
pub const HOLD_OUTPUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One image volume: the image's layers (topmost first) assembled read-only
/// at `staging` (in the container's mount namespace only), and `sub_path`
/// of it (resolved inside it) bound at `destination` in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageVolume {
    pub lower_dirs: Vec<PathBuf>,
    pub staging: PathBuf,
    pub sub_path: String,
    pub destination: PathBuf,
}

/// What the shim prints on stdout once, before it detaches.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartReport {
    pub shim_pid: i32,
    pub pid: i32,
    /// Set when the container could not be started; the shim is then gone.
    pub error: Option<String>,
    /// Exit code to report for a start failure (127: not found, 126: not executable).
    pub exit_code: i32,
    /// When the container's process began (its exec), unix nanoseconds: a
    /// process that exits at once must not have finished before it started.
    /// 0 from shims before this field: the daemon's clock then.
    #[serde(default)]
    pub started_unix_nanos: i64,
    /// The shim's protocol; 0 from shims of protocol 1, which didn't say.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub protocol: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl StartReport {
    /// The protocol the shim speaks.
    pub fn protocol(&self) -> u32 {
        self.protocol.max(1)
    }
}

/// Writes one frame.
pub fn write_frame<W: Write>(w: &mut W, msg: &impl prost::Message) -> io::Result<()> {
    let body = msg.encode_to_vec();
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf)
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub fn read_frame<R: Read, M: prost::Message + Default>(r: &mut R) -> io::Result<Option<M>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "shim frame too large"));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    M::decode(body.as_slice()).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Splits complete frames off the front of `buf`; leaves a partial frame in place.
pub fn take_frame<M: prost::Message + Default>(buf: &mut Vec<u8>) -> io::Result<Option<M>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "shim frame too large"));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let msg =
        M::decode(&buf[4..4 + len]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    buf.drain(..4 + len);
    Ok(Some(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let req =
            Request { kind: Some(request::Kind::Kill(KillRequest { signal: 15, all: true })) };
        let mut buf = Vec::new();
        write_frame(&mut buf, &req).unwrap();
        write_frame(&mut buf, &req).unwrap();
        let mut partial = buf[..3].to_vec();
        assert!(take_frame::<Request>(&mut partial).unwrap().is_none());
        assert_eq!(take_frame::<Request>(&mut buf).unwrap(), Some(req.clone()));
        let got: Option<Request> = read_frame(&mut buf.as_slice()).unwrap();
        assert_eq!(got, Some(req));
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut buf = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        assert!(take_frame::<Request>(&mut buf).is_err());
    }
}
