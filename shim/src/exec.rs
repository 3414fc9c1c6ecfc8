//! `berth-shim exec --bundle DIR --pid PID [--tty] [--env K=V]... [--user U]
//! [--cwd DIR] -- ARGS...`: runs ARGS inside the running container of DIR
//! (see `berth_kernel::exec`), with more environment, another user or
//! working directory than the container's own (`docker exec -e/-u/-w`). stdio is the
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
    let (mut env, mut user, mut cwd) = (Vec::new(), None, None);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bundle" => bundle = it.next().cloned().unwrap_or_default().into(),
            "--tty" => tty = true,
            "--env" => env.extend(it.next().cloned()),
            "--user" => user = it.next().cloned(),
            "--cwd" => cwd = it.next().cloned(),
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
    let (shim, mut spec) = match crate::start::load(&bundle) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("berth-shim exec: {e}");
            return 126;
        }
    };
    if let Some(mut p) = spec.process().clone() {
        if !env.is_empty() {
            p.set_env(Some(merge_env(p.env().clone().unwrap_or_default(), env)));
        }
        if let Some(dir) = cwd {
            p.set_cwd(dir.into());
        }
        spec.set_process(Some(p));
    }
    let user = user.or(shim.user);
    run(&ExecRequest {
        pid,
        spec: &spec,
        user: user.as_deref(),
        groups_strict: shim.groups_strict,
        args: argv,
        tty,
    })
}

/// The container's environment with `more` over it (same name: `more` wins).
fn merge_env(mut base: Vec<String>, more: Vec<String>) -> Vec<String> {
    let name = |e: &str| e.split('=').next().unwrap_or_default().to_owned();
    for e in more {
        let n = name(&e);
        base.retain(|b| name(b) != n);
        base.push(e);
    }
    base
}

#[cfg(test)]
mod tests {
    #[test]
    fn exec_env_overrides_by_name() {
        let merged = super::merge_env(
            vec!["PATH=/bin".into(), "A=1".into()],
            vec!["A=2".into(), "B=3".into()],
        );
        assert_eq!(merged, ["PATH=/bin", "A=2", "B=3"]);
    }
}
