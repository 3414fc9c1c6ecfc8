//! `berth-shim exec --bundle DIR --pid PID [--tty] -- ARGS...`: runs ARGS inside
//! the running container of DIR (see `berth_kernel::exec`). stdio is the
//! caller's; the exit code is the command's (126/127 when it can't run).
//! With `--tty`, stdout must be a unix socket: the terminal's master is
//! sent over it, and the command gets the terminal as its stdio.

use berth_kernel::exec::{run, ExecRequest};
use std::path::PathBuf;

pub fn exec(args: &[String]) -> i32 {
    let mut bundle = PathBuf::new();
    let mut pid = 0;
    let mut it = args.iter();
    let mut argv = Vec::new();
    let mut tty = false;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bundle" => bundle = it.next().cloned().unwrap_or_default().into(),
            "--tty" => tty = true,
            "--pid" => pid = it.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            "--" => {
                argv = it.cloned().collect();
                break;
            }
            other => {
                eprintln!("berth-shim exec: unknown argument {other:?}");
                return 126;
            }
        }
    }
    if pid <= 0 || bundle.as_os_str().is_empty() {
        eprintln!("berth-shim exec: --bundle and --pid are required");
        return 126;
    }
    let (shim, spec) = match crate::start::load(&bundle) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("berth-shim exec: {e}");
            return 126;
        }
    };
    run(&ExecRequest { pid, spec: &spec, user: shim.user.as_deref(), groups_strict: shim.groups_strict, args: argv, tty })
}
