//! Start-up: read the bundle, detach from berthd, create the container and
//! report the outcome on stdout (one JSON line), then serve until it exits.

use crate::container::Container;
use berth_proto::shim::{ShimConfig, StartReport, CONFIG_FILE, PID_FILE, SHIM_FILE};
use nix::unistd::{fork, ForkResult};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

fn report_to(out: &mut impl Write, r: &StartReport) {
    let _ = writeln!(out, "{}", serde_json::to_string(r).unwrap_or_default());
}

/// Protocol 1 shims didn't say theirs.
fn reported_protocol() -> u32 {
    match crate::protocol() {
        1 => 0,
        p => p,
    }
}

fn failed(msg: String, exit_code: i32) -> StartReport {
    StartReport {
        shim_pid: 0,
        pid: 0,
        error: Some(msg),
        exit_code,
        started_unix_nanos: 0,
        protocol: reported_protocol(),
    }
}

/// The bundle's shim config and OCI spec.
pub(crate) fn load(bundle: &Path) -> Result<(ShimConfig, oci_spec::runtime::Spec), String> {
    let shim: ShimConfig = serde_json::from_slice(
        &std::fs::read(bundle.join(SHIM_FILE)).map_err(|e| format!("read {SHIM_FILE}: {e}"))?,
    )
    .map_err(|e| format!("parse {SHIM_FILE}: {e}"))?;
    let spec = oci_spec::runtime::Spec::load(bundle.join(CONFIG_FILE))
        .map_err(|e| format!("load {CONFIG_FILE}: {e}"))?;
    Ok((shim, spec))
}

/// Runs the shim for the bundle at `bundle`; returns the launcher's exit code.
pub fn start(bundle: &Path) -> i32 {
    let (shim, spec) = match load(bundle) {
        Ok(v) => v,
        Err(e) => {
            report_to(&mut std::io::stdout(), &failed(e, 1));
            return 1;
        }
    };
    let (report_r, report_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            report_to(&mut std::io::stdout(), &failed(format!("pipe: {e}"), 1));
            return 1;
        }
    };
    #[allow(unsafe_code)]
    // SAFETY: the shim is single-threaded at this point (no runtime, no
    // threads were started), so the child may run arbitrary code after fork.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => {
            drop(report_w);
            relay(report_r)
        }
        Ok(ForkResult::Child) => {
            drop(report_r);
            serve(bundle, &shim, &spec, report_w)
        }
        Err(e) => {
            report_to(&mut std::io::stdout(), &failed(format!("fork: {e}"), 1));
            1
        }
    }
}

/// The launcher half: copies the report to berthd and exits.
fn relay(report_r: OwnedFd) -> i32 {
    let mut s = String::new();
    let _ = std::fs::File::from(report_r).read_to_string(&mut s);
    let ok =
        serde_json::from_str::<StartReport>(s.trim()).map(|r| r.error.is_none()).unwrap_or(false);
    if s.trim().is_empty() {
        report_to(&mut std::io::stdout(), &failed("shim died during start".into(), 1));
    } else {
        print!("{s}");
    }
    if ok {
        0
    } else {
        1
    }
}

/// The detached half: the shim proper.
fn serve(
    bundle: &Path,
    shim: &ShimConfig,
    spec: &oci_spec::runtime::Spec,
    report_w: OwnedFd,
) -> i32 {
    let mut report = std::fs::File::from(report_w);
    let _ = nix::unistd::setsid();
    detach_stdio();
    let created = Container::create(bundle, shim, spec);
    let mut c = match created {
        Ok(c) => c,
        Err(f) => {
            report_to(&mut report, &failed(f.message, f.exit_code));
            return f.exit_code;
        }
    };
    let _ = std::fs::write(bundle.join(PID_FILE), std::process::id().to_string());
    let started_unix_nanos = berth_proto::time::unix_nanos(std::time::SystemTime::now());
    report_to(
        &mut report,
        &StartReport {
            shim_pid: std::process::id() as i32,
            pid: c.pid(),
            error: None,
            exit_code: 0,
            started_unix_nanos,
            protocol: reported_protocol(),
        },
    );
    drop(report);
    crate::event_loop::run(&mut c, bundle);
    0
}

/// berthd reads our stdout until EOF: the detached shim must not hold it.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        for fd in 0..=2 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
}
